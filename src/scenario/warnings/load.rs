//! A service offered more work than its workers can do, along the call
//! graph: ρ = λ × H ÷ (instances × concurrency) above 1, with λ the arrival
//! rate and H the holding time of [`super::flow::Flow`] at the base
//! open-loop rates. The fix names the workers needed for ρ ≤ 0.8, a common
//! headroom target: above it queueing delay grows steeply (an M/M/1 queue
//! waits 4 service times at 0.8, 9 at 0.9).

use super::Lints;
use super::flow::{Flow, base_rate};
use crate::scenario::diagnostic::JsonPath;

/// The utilisation the fix aims at.
const TARGET_RHO: f64 = 0.8;

impl Lints<'_> {
    pub(super) fn overload(&mut self) {
        let scenario = self.scenario;
        if !self.clients.iter().any(|c| c.arrivals.is_some()) {
            return;
        }
        let flow = Flow::new(scenario, self.clients, self.gateways, base_rate);
        for (i, (name, service)) in scenario.services.iter().enumerate() {
            let Some(hold) = flow.holding[i] else {
                continue;
            };
            let lambda = flow.arrivals[i];
            let workers = f64::from(service.instances) * f64::from(service.concurrency);
            let busy = lambda * hold;
            let rho = busy / workers;
            if !(rho > 1.0 && rho.is_finite()) {
                continue;
            }
            let needed = (busy / TARGET_RHO).ceil();
            let concurrency = (needed / f64::from(service.instances)).ceil();
            let instances = (needed / f64::from(service.concurrency)).ceil();
            self.warn(
                JsonPath::root().key("services").key(name),
                format!(
                    "`{name}` is offered more work than it can do at the base rate: about {lambda:.1} requests/s along the call graph, each holding a worker for {:.3} ms (its service time and the calls it waits for), keep {busy:.2} workers busy, but it has {workers} ({} instance(s) × {} worker(s)), a capacity of {:.1} requests/s; ρ = {rho:.2} > 1, so its queue grows until it rejects",
                    hold * 1e3,
                    service.instances,
                    service.concurrency,
                    workers / hold,
                ),
                format!(
                    "give `{name}` {needed} workers for ρ ≤ {TARGET_RHO}: \"concurrency\": {concurrency} (or \"instances\": {instances}), or lower the arrival rate"
                ),
            );
        }
    }
}
