//! The `meshsim` command line.

fn main() {
    println!("meshsim {}", env!("CARGO_PKG_VERSION"));
}
