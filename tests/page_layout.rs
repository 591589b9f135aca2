//! Opt-in: `index.html` laid out by a real browser (issue 13). Each page is
//! generated fresh (every bundled scenario, and one of very long names),
//! opened in headless Chromium at 1280 and 1920 px wide, and measured from
//! inside: the page must not scroll sideways, no box with its own scrollbar
//! (a table's wrapper, a code block) may need it, and nothing may stick out
//! of the main column. A table that fits only by scrolling is a failure too.
//!
//! The browser is `$MESHSIM_BROWSER`, or the first of `chromium`,
//! `chromium-browser`, `google-chrome`, `google-chrome-stable` and
//! `headless_shell` on `PATH`. Without one the test prints that it was
//! skipped and passes, so `cargo test` needs nothing more than Rust. No
//! webdriver: a small script injected into a copy of the page writes its
//! measurements into the DOM on load, and `--dump-dom` prints it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use meshsim::{report, scenario, world};

const WIDTHS: [u32; 2] = [1280, 1920];

/// What the injected script measures, on load, into `data-layout` of the
/// body: the document's scroll and client widths, and every element that
/// scrolls sideways inside its own box or reaches past the right edge of the
/// body's content (SVG internals aside: an SVG clips its own drawing).
const PROBE: &str = r#"<script>
window.addEventListener('load', function () {
  var root = document.scrollingElement || document.documentElement;
  var body = document.body;
  var limit = body.getBoundingClientRect().right - parseFloat(getComputedStyle(body).paddingRight);
  var found = [];
  var name = function (e) {
    var text = (e.textContent || '').trim().slice(0, 30).replace(/\s+/g, '_');
    return e.tagName.toLowerCase() + (typeof e.className === 'string' && e.className ? '.' + e.className : '') + '[' + text + ']';
  };
  document.querySelectorAll('body *').forEach(function (e) {
    if (e.closest('svg *')) { return; }
    var style = getComputedStyle(e);
    if ((style.overflowX === 'auto' || style.overflowX === 'scroll') && e.scrollWidth > e.clientWidth + 1) {
      found.push('scrolls:' + name(e) + ':' + e.scrollWidth + '>' + e.clientWidth);
    }
    var box = e.getBoundingClientRect();
    if (box.width > 0 && box.right > limit + 1) {
      found.push('sticks-out:' + name(e) + ':' + Math.round(box.right) + '>' + Math.round(limit));
    }
  });
  body.setAttribute('data-layout', 'scroll-width=' + root.scrollWidth + ' client-width=' + root.clientWidth
    + ' inner-width=' + window.innerWidth + ' found=' + found.slice(0, 12).join(' '));
});
</script>
"#;

/// The browser to use, if any: `$MESHSIM_BROWSER` (which must exist), or
/// the first known name on `PATH`.
fn browser() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("MESHSIM_BROWSER").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(given);
        assert!(
            path.exists() || find_on_path(&path).is_some(),
            "MESHSIM_BROWSER={} does not exist",
            path.display()
        );
        return Some(find_on_path(&path).unwrap_or(path));
    }
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "headless_shell",
    ]
    .iter()
    .find_map(|name| find_on_path(Path::new(name)))
}

fn find_on_path(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A fresh directory for this test's pages and the browser's profile.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("meshsim-page-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `index.html` that `meshsim run` writes for `source`, charts inlined.
fn page(source: &str, file: &str) -> String {
    let compiled = scenario::parse(source, file).unwrap_or_else(|e| panic!("{e}"));
    let seed = compiled.scenario().seed;
    let outcome = world::run(&compiled, seed, None);
    let (summary, _) = report::files(&compiled, seed, &outcome);
    let charts = report::charts::render(&outcome, compiled.scenario()).expect("charts");
    let command = report::html::reproduce_command(file, seed);
    report::html::page(&summary, compiled.scenario(), &command, &charts)
}

/// A scenario of names as long as they may be, without a space to break
/// at: a table cell, a heading or a code span that cannot wrap them would
/// push the column wide.
fn long_names() -> String {
    let service = format!("service-{}", "x".repeat(200));
    let route = format!("route-{}", "y".repeat(200));
    let policy = format!("policy-{}", "z".repeat(200));
    let name = format!("long-{}", "n".repeat(200));
    format!(
        r#"{{"name": "{name}", "description": "{desc}", "duration": "3s",
            "policies": {{"{policy}": {{"timeout": "50ms", "retry": {{"max_attempts": 2}},
                "breaker": {{"window": "count", "window_size": 10, "minimum_calls": 5, "failure_rate_percent": 20, "wait_in_open": "200ms"}}}}}},
            "services": {{
              "{service}": {{"instances": 2, "service_time": {{"constant": "1ms"}},
                            "calls": [{{"service": "db", "policy": "{policy}"}}]}},
              "db": {{"service_time": {{"constant": "1ms"}}, "error_rate": 0.3}}
            }},
            "workload": {{"arrivals": {{"poisson": {{"rate": 50}}}},
                          "schedule": [{{"at": "1s", "rate": 100, "for": "1s"}}],
                          "routes": [{{"name": "{route}", "service": "{service}", "policy": "{policy}"}}]}},
            "faults": [{{"at": "1s", "for": "1s", "crash": {{"service": "{service}", "instance": 0}}}},
                       {{"at": "2s", "partition": {{"between": [["{service}"], ["db"]]}}}}]}}"#,
        desc = "d".repeat(300),
    )
}

/// Routes that between them show every column of the route tables (issue
/// 13: the one table of 24 columns scrolled sideways below about 1450 px):
/// an open breaker, a full bulkhead, adaptive throttling, a rate limit,
/// hedges and retries denied by a budget, against a backend that fails.
fn every_route_column() -> String {
    let policies = [
        (
            "breaker",
            r#""breaker": {"consecutive_failures": 3, "wait_in_open": "500ms"}"#,
        ),
        ("bulkhead", r#""bulkhead": {"max_concurrent": 1}"#),
        (
            "throttle",
            r#""retry": {"max_attempts": 3}, "budget": {"adaptive": {"k": 1.1, "window": "2s"}}"#,
        ),
        ("limit", r#""rate_limit": {"rate": 20, "burst": 2}"#),
        ("hedge", r#""hedge": {"delay": "2ms"}"#),
        (
            "budget",
            r#""retry": {"max_attempts": 3}, "budget": {"tps": {"retry_percent": 5, "min_retries_per_sec": 1}}"#,
        ),
    ];
    let policy_json: Vec<String> = policies
        .iter()
        .map(|(name, body)| format!(r#""{name}": {{"timeout": "100ms", {body}}}"#))
        .collect();
    let routes: Vec<String> = policies
        .iter()
        .map(|(name, _)| {
            format!(r#"{{"name": "via-{name}", "service": "db", "policy": "{name}"}}"#)
        })
        .collect();
    format!(
        r#"{{"name": "every-column", "duration": "3s",
            "policies": {{{}}},
            "services": {{"db": {{"concurrency": 2, "service_time": {{"exponential": {{"mean": "5ms"}}}},
                                  "error_rate": 0.5}}}},
            "workload": {{"arrivals": {{"poisson": {{"rate": 300}}}}, "routes": [{}]}}}}"#,
        policy_json.join(","),
        routes.join(",")
    )
}

/// Runs `browser` on `url` at `width`, and returns the `data-layout` the
/// probe wrote. Fails past a minute rather than hang.
fn measure(browser: &Path, profile: &Path, url: &str, width: u32) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={width},900"),
            "--virtual-time-budget=2000",
            "--dump-dom",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    // The dumped page is large: read it while the browser runs.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // A minute in polls of 50 ms (counted, not clocked: the wall clock is
    // the CLI's alone).
    let mut polls = 0;
    while child.try_wait().expect("wait for the browser").is_none() {
        polls += 1;
        if polls > 1_200 {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within a minute on {url}",
                browser.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dom = reader.join().expect("the reader thread");
    let start = dom
        .find("data-layout=\"")
        .unwrap_or_else(|| panic!("no measurement in the page the browser dumped for {url} at {width} px: did its script run?"))
        + "data-layout=\"".len();
    let end = start + dom[start..].find('"').expect("a closed attribute");
    dom[start..end]
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The value of `key=` in a measurement.
fn field<'m>(measurement: &'m str, key: &str) -> &'m str {
    let at = measurement
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {measurement}"))
        + key.len()
        + 1;
    measurement[at..].split(' ').next().unwrap_or("")
}

/// A line on the terminal even when the test harness captures output (it
/// captures `println!`, not writes to the stderr handle): a skipped test
/// says so in a plain `cargo test`.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn the_page_fits_the_main_column_at_1280_and_1920_px() {
    let Some(browser) = browser() else {
        say(
            "page_layout: skipped: no headless browser found (set MESHSIM_BROWSER, or install chromium, chromium-browser, google-chrome or headless_shell)",
        );
        return;
    };
    say(&format!("page_layout: using {}", browser.display()));
    let dir = TempDir::new();
    let mut pages: Vec<(String, String)> = std::fs::read_dir("scenarios")
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let source = std::fs::read_to_string(&p).expect("read the scenario");
            (p.display().to_string(), source)
        })
        .collect();
    pages.sort();
    assert!(pages.len() >= 2, "the bundled scenarios are missing");
    pages.push(("long names".to_string(), long_names()));
    pages.push(("every route column".to_string(), every_route_column()));
    let mut failures = Vec::new();
    for (i, (label, source)) in pages.iter().enumerate() {
        let html = page(source, label);
        let html = match html.rfind("</body>") {
            Some(at) => format!("{}{PROBE}{}", &html[..at], &html[at..]),
            None => panic!("{label}: no </body>"),
        };
        let file = dir.0.join(format!("page-{i}.html"));
        std::fs::write(&file, html).expect("write the page");
        let url = format!("file://{}", file.display());
        for width in WIDTHS {
            let profile = dir.0.join(format!("profile-{i}-{width}"));
            let measurement = measure(&browser, &profile, &url, width);
            say(&format!(
                "page_layout: {label} at {width} px: {measurement}"
            ));
            let scroll: u32 = field(&measurement, "scroll-width")
                .parse()
                .expect("a width");
            let client: u32 = field(&measurement, "client-width")
                .parse()
                .expect("a width");
            let found = measurement
                .split_once("found=")
                .map_or("", |(_, f)| f.trim());
            if scroll > client {
                failures.push(format!(
                    "{label} at {width} px: the page scrolls sideways ({scroll} > {client} px)"
                ));
            }
            if !found.is_empty() {
                failures.push(format!("{label} at {width} px: {found}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the main column overflows:\n{}",
        failures.join("\n")
    );
}

/// The page of `every_route_column` has every optional column of the route
/// tables, so the layout test above measures the widest tables there are
/// (this part needs no browser).
#[test]
fn the_widest_route_tables_have_every_column() {
    let html = page(&every_route_column(), "every-column.json");
    let routes = &html[html.find("<h2>Routes</h2>").expect("a routes section")..];
    // Up to the next section.
    let routes = &routes[..routes[4..].find("<h2>").map_or(routes.len(), |i| i + 4)];
    for column in [
        "breaker open",
        "bulkhead full",
        "throttled",
        "rate limited",
        "hedges",
        "retries denied",
        "circuit breakers",
    ] {
        assert!(
            routes.contains(&format!("<th>{column}</th>"))
                || routes.contains(&format!("<th class=\"text\">{column}</th>")),
            "no `{column}` column"
        );
    }
    assert!(!routes.contains("Not shown, none in this run"), "{routes}");
    // Three tables (outcomes, attempts and latency, by status), none of
    // more than 13 columns.
    assert_eq!(routes.matches("<table>").count(), 3);
    for table in routes.split("<table>").skip(1) {
        let header = &table[..table.find("</tr>").unwrap()];
        assert!(header.matches("</th>").count() <= 13, "{header}");
    }
}
