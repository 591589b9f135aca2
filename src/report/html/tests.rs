//! The page's tests: every scenario string escaped (in the page and in the
//! charts), the tables' attempts, amplification and refusals, each chart shown
//! once, charts inlined, and the reproduce command quoted only when needed.

use super::*;
use crate::report::charts;
use crate::scenario;
use crate::world;

const NASTY: &str = "<script>alert(1)</script>";

fn nasty_run() -> (scenario::Compiled, world::RunOutcome) {
    let source = r#"{
            "name": "xss",
            "description": "Watch <img src=x onerror=alert(2)> & \"quotes\"",
            "duration": "3s",
            "window": "1s",
            "seed": 3,
            "policies": {
                "<i>p</i>": {
                    "timeout": "50ms",
                    "retry": {"max_attempts": 2, "retry_on": ["error"], "backoff": {"constant": "1ms"}},
                    "breaker": {"window": "count", "window_size": 10, "minimum_calls": 5,
                                "failure_rate_percent": 20, "wait_in_open": "200ms", "half_open_calls": 2}
                }
            },
            "services": {
                "<script>alert(1)</script>": {
                    "instances": 2,
                    "concurrency": 2,
                    "queue_capacity": 10,
                    "service_time": {"constant": "1ms"},
                    "calls": [{"service": "db", "policy": "<i>p</i>"}]
                },
                "db": {
                    "instances": 1,
                    "concurrency": 4,
                    "service_time": {"constant": "1ms"},
                    "error_rate": 0.4
                }
            },
            "workload": {
                "arrivals": {"poisson": {"rate": 50}},
                "routes": [{"name": "<b>route</b>", "service": "<script>alert(1)</script>"}]
            },
            "faults": [
                {"at": "1s", "for": "1s", "crash": {"service": "<script>alert(1)</script>", "instance": 0}}
            ]
        }"#;
    let scenario = scenario::parse(source, "xss.json").expect("a valid scenario");
    let run = world::run(&scenario, scenario.scenario().seed, None);
    (scenario, run)
}

fn nasty_summary() -> (Summary, String) {
    let (scenario, run) = nasty_run();
    let summary = Summary::new(&scenario, scenario.scenario().seed, &run);
    (summary, scenario.scenario().description.clone())
}

#[test]
fn escapes_every_scenario_string() {
    let (summary, description) = nasty_summary();
    let files = vec![
        "charts/latency.svg".to_string(),
        "charts/latency.png".to_string(),
    ];
    let html = index(
        &summary,
        &description,
        &reproduce_command("scenarios/<x>.json", 3),
        &files,
    );
    assert!(!html.contains(NASTY), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; instance 0"));
    assert!(html.contains("&lt;b&gt;route&lt;/b&gt;"));
    assert!(html.contains("Watch &lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;"));
    assert!(html.contains("meshsim run &#39;scenarios/&lt;x&gt;.json&#39; --seed 3"));
    // The edge, its policy and its breakers.
    assert!(!html.contains("<i>"), "{html}");
    assert!(html.contains("<h2>Edges</h2>"));
    assert!(html.contains(
        "<td class=\"text\">&lt;script&gt;alert(1)&lt;/script&gt;-&gt;db [&lt;i&gt;p&lt;/i&gt;]</td>\
         <td class=\"text\">&lt;i&gt;p&lt;/i&gt;</td>"
    ));
    assert!(html.contains("<td class=\"text\">2 breakers"), "{html}");
    assert!(html.contains("closed&nbsp;→&nbsp;open&nbsp;"), "{html}");
}

#[test]
fn the_tables_show_attempts_amplification_and_only_refusals_that_happened() {
    let (summary, description) = nasty_summary();
    let html = index(&summary, &description, "meshsim run x.json --seed 3", &[]);
    for column in [
        "<th>attempts</th>",
        "<th>retries</th>",
        "<th>attempts / request</th>",
        "<th>attempts / call</th>",
        "<th>calls to it</th>",
        "<th>amplification</th>",
        "<th>breaker open</th>",
        "<th class=\"text\">circuit breakers</th>",
    ] {
        assert!(html.contains(column), "{column}");
    }
    assert!(!html.contains("<th>rate limited</th>"));
    assert!(!html.contains("<th>bulkhead full</th>"));
    assert!(html.contains("Not shown, none in this run: breaker open, bulkhead full"));
    assert!(html.contains(
        "Not shown, none in this run: lost with the caller, bulkhead full, throttled, rate limited."
    ));
    assert!(html.contains("<p>No charts: nothing to draw.</p>"));
}

#[test]
fn shows_each_chart_once_by_its_svg() {
    let (summary, description) = nasty_summary();
    let files: Vec<String> = [
        "charts/latency.svg",
        "charts/latency.png",
        "charts/throughput.png",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let html = index(
        &summary,
        &description,
        "meshsim run x.json --seed 3",
        &files,
    );
    assert_eq!(html.matches("<img ").count(), 2);
    assert!(html.contains("<img src=\"charts/latency.svg\""));
    assert!(html.contains("<a href=\"charts/latency.png\">PNG</a>"));
    assert!(html.contains("<img src=\"charts/throughput.png\""));
    assert!(html.contains("Route throughput and failures"));
    assert!(html.contains("<h2>Fault timeline</h2>"));
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn charts_of_a_nasty_run_escape_names_too() {
    let (scenario, run) = nasty_run();
    assert!(run.faults[0].target.contains(NASTY));
    let files = charts::render(&run, scenario.scenario()).unwrap();
    assert!(!files.is_empty());
    let mut named = Vec::new();
    for (name, bytes) in files {
        if name.ends_with(".svg") {
            let text = String::from_utf8(bytes).unwrap();
            assert!(!text.contains(NASTY), "{name}");
            assert!(!text.contains("<i>"), "{name}");
            if text.contains("&lt;script&gt;") {
                named.push(name);
            }
        }
    }
    for chart in ["latency", "throughput", "attempts", "breakers"] {
        assert!(
            named.contains(&format!("charts/{chart}.svg")),
            "{chart}: {named:?}"
        );
    }
}

#[test]
fn the_page_inlines_its_charts_and_shows_the_scenario_escaped() {
    let (scenario, run) = nasty_run();
    let summary = Summary::new(&scenario, scenario.scenario().seed, &run);
    let files = charts::render(&run, scenario.scenario()).unwrap();
    let html = page(
        &summary,
        scenario.scenario(),
        &reproduce_command("scenarios/<x>.json", 3),
        &files,
    );
    assert!(!html.contains(NASTY), "a raw name");
    assert!(!html.contains("<script"), "a raw name");
    assert!(!html.contains("<i>"), "a raw policy name");
    assert!(!html.contains("<b>route"), "a raw route name");
    // Every SVG inline, none by path; PNGs linked.
    let svgs = files.iter().filter(|(n, _)| n.ends_with(".svg")).count();
    assert!(svgs >= 4);
    assert_eq!(html.matches("<svg").count(), svgs);
    assert!(!html.contains("<img "));
    assert!(!html.contains("<?xml"));
    assert!(html.contains("<a href=\"charts/latency.png\">PNG</a>"));
    assert!(!html.contains("http://") || html.matches("http://").count() == svgs);
    // The scenario comes before the results.
    let scenario_at = html.find("<h2>Scenario</h2>").expect("a scenario section");
    assert!(scenario_at < html.find("<h2>Routes</h2>").unwrap());
    for text in [
        "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>: 2 instances × 2 workers, queue 10",
        "then calls db (policy &lt;i&gt;p&lt;/i&gt;)",
        "Poisson arrivals at 50 requests/s",
        "route <b>&lt;b&gt;route&lt;/b&gt;</b> → &lt;script&gt;alert(1)&lt;/script&gt;, 100.0% of requests",
        "<b>&lt;i&gt;p&lt;/i&gt;</b>: retry up to 2 attempts ∘ breaker at 20% failures ∘ timeout 50ms per attempt",
        "from 1s to 2s: <code>{&quot;crash&quot;:",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // One caption per chart.
    assert_eq!(html.matches("<figcaption>").count(), svgs);
    assert!(html.contains("a retry storm starts"));
}

#[test]
fn quotes_the_command_only_when_needed() {
    assert_eq!(
        reproduce_command("scenarios/shop.json", 7),
        "meshsim run scenarios/shop.json --seed 7"
    );
    assert_eq!(
        reproduce_command("my scenarios/it's.json", 1),
        r"meshsim run 'my scenarios/it'\''s.json' --seed 1"
    );
}

#[test]
fn the_events_section_shows_producers_groups_and_choreographies() {
    let participant = |group: &str| {
        format!(
            r#"{{"instances": 1, "concurrency": 2, "service_time": {{"constant": "1ms"}},
                "consume": [{{"topic": "checkout", "group": "{group}", "idempotent": true}}],
                "publish": {{"topic": "checkout", "timeout": "200ms",
                             "outbox": {{"poll_interval": "10ms", "max_in_flight": 8}}}}}}"#
        )
    };
    let source = format!(
        r#"{{"name": "choreo", "duration": "10s", "window": "1s",
            "services": {{
                "checkout": {{"instances": 1, "concurrency": 4, "service_time": {{"constant": "1ms"}},
                              "publish": {{"topic": "checkout", "timeout": "200ms"}}}},
                "broker": {{"instances": 1, "concurrency": 8, "service_time": {{"constant": "100us"}},
                            "broker": {{"topics": {{"checkout": {{"partitions": 2}}}}}}}},
                "inventory": {inventory},
                "payments": {payments}
            }},
            "choreographies": {{"order <x>": {{"topic": "checkout", "start": "checkout", "steps": [
                {{"name": "reserve", "service": "inventory", "delta": -1, "keys": 5, "initial": 1000}},
                {{"name": "charge", "service": "payments", "delta": -1, "initial": 1000000, "decline": 0.5}}
            ]}}}},
            "workload": {{"arrivals": {{"poisson": {{"rate": 20}}}},
                          "routes": [{{"service": "checkout"}}]}}}}"#,
        inventory = participant("inventory"),
        payments = participant("payments"),
    );
    let scenario = scenario::parse(&source, "choreo.json").expect("a valid scenario");
    let run = world::run(&scenario, 1, None);
    let summary = Summary::new(&scenario, 1, &run);
    let html = index(&summary, "", "meshsim run choreo.json", &[]);
    let events = &html[html.find("<h2>Events</h2>").expect("an events section")..];
    let c = &summary.events.as_ref().expect("events").choreographies["order <x>"];
    assert!(c.completed > 10 && c.compensated > 10, "{c:#?}");
    assert!(
        events.contains(
            "<h3>choreography order &lt;x&gt; (topic checkout, started by checkout)</h3>"
        )
    );
    assert!(events.contains(&format!(
        "{} sagas started (0 refused): {} completed, {} compensated",
        c.started, c.completed, c.compensated
    )));
    for cell in [
        "checkout/inventory",
        "checkout/payments",
        "reserve",
        "charge",
        "outbox",
    ] {
        assert!(events.contains(&format!(">{cell}<")), "{cell}");
    }
    assert!(!html.contains("<script"), "names are escaped");
}
