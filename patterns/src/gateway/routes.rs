//! A gateway's route table: which route a request takes, by its method and path.
//!
//! Semantics, and where they come from:
//!
//! - **Segment-boundary prefixes**, as Envoy's `path_separated_prefix` route match
//!   (`envoy/config/route/v3/route_components.proto`): a prefix matches a path that
//!   equals it or continues it with a `/`, so `/v1/orders` matches `/v1/orders` and
//!   `/v1/orders/42`, never `/v1/ordersx`; the query string (from `?`) and a fragment
//!   (from `#`) are not part of the path; a prefix may not end with `/` (except the
//!   root `/`, which matches every path). Matching is case-sensitive, Envoy's default.
//! - **Longest prefix wins**, as Kong's router (routes with longer paths are
//!   evaluated first) and AWS API Gateway's HTTP APIs ("the most specific match"),
//!   and then **declaration order**, as Envoy's first match, among routes with the
//!   same prefix whose method matches. A versioned API is nothing special: `/v1/orders`
//!   and `/v2/orders` are two prefixes.
//! - **Method**: one method or any (Envoy's `:method` header matcher, Spring Cloud
//!   Gateway's `Method` predicate). A route whose method does not match is not a
//!   match at all, so a shorter prefix may take the request.
//! - **No match** is a 404 ([`Status::NotFound`](super::Status::NotFound)), Envoy's
//!   `NR` response flag.
//!
//! Simplified on purpose: no host, header or query-parameter matching, no regular
//! expressions or path templates (AWS's `{id}`, Spring's `/{segment}`), no path
//! normalisation (percent-decoding, `..`, merging `//`: Envoy does none by default
//! either), no rewriting.
//!
//! # Bounds and cost
//!
//! At most [`MAX_ROUTES`] routes of prefixes at most [`MAX_PREFIX_LEN`] bytes, checked
//! at construction, which is the only place that allocates. The table is kept sorted
//! by (prefix, declaration order); a lookup tries the path's own segment-boundary
//! prefixes from the longest down (one per `/` in the path) and finds each by binary
//! search, so a request costs `O(depth · log routes)` comparisons and no allocation.
//! A route that an earlier route with the same prefix makes unreachable (a `GET`
//! after an any-method route) is a configuration error, not a silent dead entry.

use crate::ConfigError;

/// The most routes one table holds (a meshsim bound; real gateways hold thousands,
/// a simulated system a handful).
pub const MAX_ROUTES: usize = 256;
/// The longest prefix, in bytes (a meshsim bound; Envoy limits the whole path to its
/// header size limit, 60 KiB by default).
pub const MAX_PREFIX_LEN: usize = 1024;

/// An HTTP request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
}

impl Method {
    /// Every method, in declaration order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Which methods a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodMatch {
    /// Every method.
    Any,
    /// This method only.
    Only(Method),
}

impl MethodMatch {
    /// Whether `method` is accepted.
    pub const fn matches(self, method: Method) -> bool {
        match self {
            MethodMatch::Any => true,
            MethodMatch::Only(only) => only as u8 == method as u8,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            MethodMatch::Any => (1 << Method::ALL.len()) - 1,
            MethodMatch::Only(method) => method.bit(),
        }
    }
}

/// One route as declared: the methods and the path prefix it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route<'a> {
    /// The methods.
    pub method: MethodMatch,
    /// The path prefix: starts with `/`, does not end with one (unless it is `/`),
    /// has no empty segment (`//`), no `?` or `#`; at most [`MAX_PREFIX_LEN`] bytes.
    pub prefix: &'a str,
}

impl<'a> Route<'a> {
    /// A route for any method.
    pub const fn any(prefix: &'a str) -> Route<'a> {
        Route {
            method: MethodMatch::Any,
            prefix,
        }
    }

    /// A route for one method.
    pub const fn only(method: Method, prefix: &'a str) -> Route<'a> {
        Route {
            method: MethodMatch::Only(method),
            prefix,
        }
    }
}

/// A route's place in the declaration order: the index of the [`Route`] given to
/// [`RouteTable::new`], by which the owner finds what the route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u16);

impl RouteId {
    /// The index into the declared routes.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Debug)]
struct Entry {
    prefix: Box<str>,
    method: MethodMatch,
    id: RouteId,
}

/// A validated route table (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::gateway::routes::{Method, Route, RouteId, RouteTable};
///
/// let start = Instant::now();
/// let table = RouteTable::new(&[
///     Route::any("/"),                            // 0: the catch-all
///     Route::only(Method::Post, "/v1/orders"),    // 1: placing an order
///     Route::any("/v1/orders"),                   // 2: everything else on orders
///     Route::any("/v2/orders"),                   // 3
/// ])?;
/// let _now = start.elapsed().as_nanos() as u64; // routing needs no time
/// assert_eq!(table.route(Method::Post, "/v1/orders"), Some(RouteId(1)));
/// assert_eq!(table.route(Method::Get, "/v1/orders/42?x=1"), Some(RouteId(2)));
/// assert_eq!(table.route(Method::Get, "/v2/orders"), Some(RouteId(3)));
/// assert_eq!(table.route(Method::Get, "/v1/ordersx"), Some(RouteId(0)));
/// // A POST after the any-method route could never be chosen: refused.
/// let shadowed = [Route::any("/v1/orders"), Route::only(Method::Post, "/v1/orders")];
/// assert!(RouteTable::new(&shadowed).is_err());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RouteTable {
    /// Sorted by (prefix, declaration order).
    sorted: Vec<Entry>,
    /// For each declared route, its place in `sorted`.
    declared: Vec<u16>,
}

impl RouteTable {
    /// A table of `routes`, in declaration order: at least one and at most
    /// [`MAX_ROUTES`], each prefix well formed and each route reachable.
    pub fn new(routes: &[Route<'_>]) -> Result<RouteTable, ConfigError> {
        let error = |field, reason| Err(ConfigError::new("gateway.routes", field, reason));
        if routes.is_empty() {
            return error("routes", "must list at least 1 route");
        }
        if routes.len() > MAX_ROUTES {
            return error("routes", "must list at most 256 routes");
        }
        for route in routes {
            if let Err(reason) = check_prefix(route.prefix) {
                return error("prefix", reason);
            }
        }
        let mut sorted: Vec<Entry> = routes
            .iter()
            .enumerate()
            .map(|(index, route)| Entry {
                prefix: route.prefix.into(),
                method: route.method,
                id: RouteId(index as u16),
            })
            .collect();
        sorted.sort_by(|a, b| a.prefix.cmp(&b.prefix).then(a.id.cmp(&b.id)));
        // Within a run of equal prefixes, a route whose methods are all taken by
        // earlier ones can never be chosen.
        let mut covered = 0u8;
        for (place, entry) in sorted.iter().enumerate() {
            if place == 0 || sorted[place - 1].prefix != entry.prefix {
                covered = 0;
            }
            let bits = entry.method.bits();
            if bits & !covered == 0 {
                return error(
                    "routes",
                    "a route is unreachable: earlier routes with the same prefix take all its methods",
                );
            }
            covered |= bits;
        }
        let mut declared = vec![0u16; routes.len()];
        for (place, entry) in sorted.iter().enumerate() {
            declared[entry.id.index()] = place as u16;
        }
        Ok(RouteTable { sorted, declared })
    }

    /// How many routes the table holds.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the table is empty (never: a table holds at least one route).
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The declared route `id`.
    ///
    /// # Panics
    ///
    /// If `id` is not one of this table's routes.
    pub fn get(&self, id: RouteId) -> Route<'_> {
        let entry = &self.sorted[usize::from(self.declared[id.index()])];
        Route {
            method: entry.method,
            prefix: &entry.prefix,
        }
    }

    /// The route a request with `method` and `path` (query string included or not)
    /// takes: the longest matching prefix whose method matches, the first declared
    /// among equals; `None` (a 404) if there is none. A path that does not start with
    /// `/` matches nothing.
    pub fn route(&self, method: Method, path: &str) -> Option<RouteId> {
        let path = match path.find(['?', '#']) {
            Some(end) => &path[..end],
            None => path,
        };
        if !path.starts_with('/') {
            return None;
        }
        // The candidates are the path itself, then the path up to each `/` from the
        // right, then the root: exactly the prefixes that match it on a boundary.
        let mut end = path.len();
        loop {
            let candidate = if end == 0 { "/" } else { &path[..end] };
            if let Some(id) = self.lookup(candidate, method) {
                return Some(id);
            }
            if candidate == "/" {
                return None;
            }
            end = path[..end].rfind('/').unwrap_or(0);
        }
    }

    /// The first declared route with exactly this prefix whose method matches.
    fn lookup(&self, prefix: &str, method: Method) -> Option<RouteId> {
        let start = self.sorted.partition_point(|entry| &*entry.prefix < prefix);
        self.sorted[start..]
            .iter()
            .take_while(|entry| &*entry.prefix == prefix)
            .find(|entry| entry.method.matches(method))
            .map(|entry| entry.id)
    }
}

fn check_prefix(prefix: &str) -> Result<(), &'static str> {
    if !prefix.starts_with('/') {
        return Err("must start with '/'");
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err("must be at most 1024 bytes");
    }
    if prefix.len() > 1 && prefix.ends_with('/') {
        return Err("must not end with '/' (a prefix matches on segment boundaries)");
    }
    if prefix.contains("//") {
        return Err("must not contain an empty segment ('//')");
    }
    if prefix.contains(['?', '#']) {
        return Err("must not contain '?' or '#'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(routes: &[Route<'_>]) -> RouteTable {
        RouteTable::new(routes).unwrap()
    }

    /// `path` under `method` takes the route declared at `expected` (or none).
    fn check(table: &RouteTable, method: Method, path: &str, expected: Option<u16>) {
        assert_eq!(
            table.route(method, path),
            expected.map(RouteId),
            "{method:?} {path}"
        );
    }

    #[test]
    fn prefixes_match_on_segment_boundaries_only() {
        let t = table(&[Route::any("/v1/orders")]);
        check(&t, Method::Get, "/v1/orders", Some(0));
        check(&t, Method::Get, "/v1/orders/", Some(0));
        check(&t, Method::Get, "/v1/orders/42", Some(0));
        check(&t, Method::Get, "/v1/orders/42/items", Some(0));
        check(&t, Method::Get, "/v1/orders?page=2", Some(0));
        check(&t, Method::Get, "/v1/orders#top", Some(0));
        check(&t, Method::Get, "/v1/ordersx", None);
        check(&t, Method::Get, "/v1/order", None);
        check(&t, Method::Get, "/v1", None);
        check(&t, Method::Get, "/V1/orders", None); // case-sensitive
        check(&t, Method::Get, "v1/orders", None);
        check(&t, Method::Get, "", None);
        check(&t, Method::Get, "/v1/ordersx/orders", None);
    }

    #[test]
    fn longest_prefix_wins_whatever_the_declaration_order() {
        let t = table(&[
            Route::any("/"),
            Route::any("/v1"),
            Route::any("/v1/orders/special"),
            Route::any("/v1/orders"),
            Route::any("/v2/orders"),
        ]);
        check(&t, Method::Get, "/", Some(0));
        check(&t, Method::Get, "/health", Some(0));
        check(&t, Method::Get, "/v1", Some(1));
        check(&t, Method::Get, "/v1/users", Some(1));
        check(&t, Method::Get, "/v1/orders/42", Some(3));
        check(&t, Method::Get, "/v1/orders/special", Some(2));
        check(&t, Method::Get, "/v1/orders/special/7", Some(2));
        check(&t, Method::Get, "/v1/orders/specialx", Some(3));
        check(&t, Method::Get, "/v2/orders/1", Some(4));
        check(&t, Method::Get, "/v2", Some(0));
        check(&t, Method::Get, "/v3/orders", Some(0));
    }

    #[test]
    fn methods_filter_then_declaration_order_breaks_ties() {
        let t = table(&[
            Route::only(Method::Post, "/v1/orders"),
            Route::only(Method::Get, "/v1/orders"),
            Route::any("/v1/orders"),
            Route::only(Method::Delete, "/v1"),
        ]);
        check(&t, Method::Post, "/v1/orders/1", Some(0));
        check(&t, Method::Get, "/v1/orders/1", Some(1));
        check(&t, Method::Put, "/v1/orders/1", Some(2));
        // DELETE of an order takes the longer any-method prefix, not the DELETE route.
        check(&t, Method::Delete, "/v1/orders/1", Some(2));
        check(&t, Method::Delete, "/v1/users", Some(3));
        check(&t, Method::Get, "/v1/users", None);
    }

    #[test]
    fn a_method_mismatch_falls_back_to_a_shorter_prefix() {
        let t = table(&[Route::any("/api"), Route::only(Method::Get, "/api/reports")]);
        check(&t, Method::Get, "/api/reports/3", Some(1));
        check(&t, Method::Post, "/api/reports/3", Some(0));
    }

    #[test]
    fn get_returns_the_declared_route() {
        let routes = [
            Route::any("/b"),
            Route::only(Method::Head, "/a"),
            Route::any("/a"),
        ];
        let t = table(&routes);
        for (index, route) in routes.iter().enumerate() {
            assert_eq!(t.get(RouteId(index as u16)), *route);
        }
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
    }

    #[test]
    fn bad_tables_are_config_errors() {
        let reason = |routes: &[Route<'_>]| RouteTable::new(routes).unwrap_err().reason;
        assert_eq!(reason(&[]), "must list at least 1 route");
        assert_eq!(reason(&[Route::any("v1")]), "must start with '/'");
        assert_eq!(reason(&[Route::any("")]), "must start with '/'");
        assert_eq!(
            reason(&[Route::any("/v1/")]),
            "must not end with '/' (a prefix matches on segment boundaries)"
        );
        assert_eq!(
            reason(&[Route::any("/v1//x")]),
            "must not contain an empty segment ('//')"
        );
        assert_eq!(
            reason(&[Route::any("/v1?x")]),
            "must not contain '?' or '#'"
        );
        let long = format!("/{}", "a".repeat(MAX_PREFIX_LEN));
        assert_eq!(reason(&[Route::any(&long)]), "must be at most 1024 bytes");
        let unreachable =
            "a route is unreachable: earlier routes with the same prefix take all its methods";
        assert_eq!(
            reason(&[Route::any("/a"), Route::only(Method::Get, "/a")]),
            unreachable
        );
        assert_eq!(reason(&[Route::any("/a"), Route::any("/a")]), unreachable);
        let every_method: Vec<Route<'_>> = Method::ALL
            .iter()
            .map(|&method| Route::only(method, "/a"))
            .chain([Route::any("/a")])
            .collect();
        assert_eq!(reason(&every_method), unreachable);
        let many: Vec<String> = (0..=MAX_ROUTES).map(|i| format!("/r{i}")).collect();
        let many: Vec<Route<'_>> = many.iter().map(|p| Route::any(p)).collect();
        assert_eq!(reason(&many), "must list at most 256 routes");
        assert!(RouteTable::new(&many[..MAX_ROUTES]).is_ok());
        // The same prefix for different methods, and the root, are fine.
        assert!(RouteTable::new(&[Route::only(Method::Get, "/a"), Route::any("/a")]).is_ok());
        assert!(RouteTable::new(&[Route::any("/")]).is_ok());
    }

    /// The specification, as directly as it can be written: every route that matches,
    /// the longest prefix, then the first declared.
    fn reference(routes: &[Route<'_>], method: Method, path: &str) -> Option<RouteId> {
        let path = path.split(['?', '#']).next().unwrap();
        let matches = |prefix: &str| {
            path.starts_with('/')
                && (prefix == "/"
                    || path == prefix
                    || (path.starts_with(prefix) && path.as_bytes()[prefix.len()] == b'/'))
        };
        routes
            .iter()
            .enumerate()
            .filter(|(_, route)| route.method.matches(method) && matches(route.prefix))
            .max_by_key(|(index, route)| (route.prefix.len(), std::cmp::Reverse(*index)))
            .map(|(index, _)| RouteId(index as u16))
    }

    fn segment() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "ab", "v1", "v2"]).prop_map(str::to_owned)
    }

    fn path(max_depth: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(segment(), 0..=max_depth).prop_map(|segments| {
            if segments.is_empty() {
                "/".to_owned()
            } else {
                segments.iter().map(|s| format!("/{s}")).collect()
            }
        })
    }

    fn method_match() -> impl Strategy<Value = MethodMatch> {
        prop_oneof![
            Just(MethodMatch::Any),
            prop::sample::select(Method::ALL.to_vec()).prop_map(MethodMatch::Only),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The table picks the same route as the specification's direct reading, for
        /// any table it accepts and any request.
        #[test]
        fn route_agrees_with_the_longest_prefix_reference(
            declared in prop::collection::vec((method_match(), path(3)), 1..12),
            requests in prop::collection::vec(
                (prop::sample::select(Method::ALL.to_vec()), path(4), any::<bool>()),
                1..24,
            ),
        ) {
            let routes: Vec<Route<'_>> = declared
                .iter()
                .map(|(method, prefix)| Route { method: *method, prefix })
                .collect();
            let Ok(table) = RouteTable::new(&routes) else {
                // Only unreachable routes are refused; the reference has no opinion.
                return Ok(());
            };
            for (method, path, query) in &requests {
                let path = if *query { format!("{path}?q=/a") } else { path.clone() };
                prop_assert_eq!(
                    table.route(*method, &path),
                    reference(&routes, *method, &path),
                    "{:?} {}", method, path
                );
            }
        }
    }
}
