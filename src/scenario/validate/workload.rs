//! The checks on the workload: open-loop arrivals or closed-loop users (one of
//! them, for the implicit client or for each named client), rates that keep
//! virtual time moving, users' think time, the rate schedule (steps and ramps
//! in time order, within the run), the named clients (unique names, their
//! weights over known routes, the bounds), the routes (known services,
//! positive weights, distinct names) and the workload's timeout and policy.

use std::collections::{BTreeMap, BTreeSet};

use super::distributions::mean_nanos;
use super::{
    Checker, MAX_CLIENTS, MAX_USERS, MIN_THINK_TIME_NANOS, bad_name, did_you_mean, num, shown,
};
use crate::kernel::SimDuration;
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::*;

/// Whose load a check is about, for its messages.
#[derive(Clone, Copy)]
enum Who {
    /// The implicit client: the workload's own `arrivals` or `users`.
    Workload,
    /// A named client.
    Client,
}

impl Checker<'_> {
    pub(super) fn workload(&mut self) {
        let w = &self.scenario.workload;
        let path = JsonPath::root().key("workload");
        match &w.clients {
            None => self.load(
                &path,
                w.arrivals.as_ref(),
                &w.schedule,
                w.users.as_ref(),
                Who::Workload,
            ),
            Some(clients) => self.clients(&path, clients),
        }
        if w.routes.is_empty() {
            self.problem(path.key("routes"), "the workload needs at least one route");
        }
        let total_weight: f64 = w.routes.iter().map(|r| r.weight).sum();
        if !total_weight.is_finite() {
            self.problem(
                path.key("routes"),
                "the route weights add up to more than a float can hold: use smaller weights",
            );
        }
        let mut names = BTreeSet::new();
        for (i, route) in w.routes.iter().enumerate() {
            let route_path = path.key("routes").index(i);
            self.service_ref(route_path.key("service"), &route.service);
            if !(route.weight.is_finite() && route.weight > 0.0) {
                self.problem(
                    route_path.key("weight"),
                    format!(
                        "a weight must be a positive number, got {}",
                        num(route.weight)
                    ),
                );
            }
            let name = route.name.clone().unwrap_or_else(|| route.service.clone());
            if let Some(why) = bad_name(&name) {
                self.problem(route_path.key("name"), format!("a route name {why}"));
            }
            if !names.insert(name.clone()) {
                self.problem(
                    route_path.clone(),
                    format!("a second route named `{}`: give each route entering the same service its own `name`", shown(&name)),
                );
            }
            if let Some(t) = route.timeout {
                self.positive_duration(route_path.key("timeout"), t);
            }
            self.policy_ref(&route_path, route.policy.as_deref(), false);
        }
        if let Some(t) = w.timeout {
            self.positive_duration(path.key("timeout"), t);
        }
        self.policy_ref(&path, w.policy.as_deref(), false);
    }

    /// One client's load: open-loop `arrivals` (with their `schedule`) or
    /// closed-loop `users`, exactly one, at `path` (the workload, or one of
    /// its `clients`).
    fn load(
        &mut self,
        path: &JsonPath,
        arrivals: Option<&Arrivals>,
        schedule: &[RateChange],
        users: Option<&Users>,
        who: Who,
    ) {
        match (arrivals, users) {
            (Some(arrivals), None) => match arrivals {
                Arrivals::Poisson { rate } => {
                    self.rate(path.key("arrivals").key("poisson").key("rate"), *rate)
                }
                Arrivals::Constant { rate } => {
                    self.rate(path.key("arrivals").key("constant").key("rate"), *rate)
                }
            },
            (None, Some(users)) => {
                if users.count == 0 || users.count > MAX_USERS {
                    self.problem(
                        path.key("users").key("count"),
                        format!("users.count must be between 1 and {MAX_USERS}"),
                    );
                }
                self.distribution(path.key("users").key("think_time"), &users.think_time);
                if let Some(mean) = mean_nanos(&users.think_time)
                    && mean < MIN_THINK_TIME_NANOS as f64
                {
                    self.problem(
                        path.key("users").key("think_time"),
                        format!(
                            "the think time's mean is {} ns: users that do not pause make virtual time stand still; at least {MIN_THINK_TIME_NANOS} ns (1us)",
                            num(mean)
                        ),
                    );
                }
                if !schedule.is_empty() {
                    self.problem(
                        path.key("schedule"),
                        "a rate schedule applies to open-loop `arrivals`, not to closed-loop `users`",
                    );
                }
            }
            (Some(_), Some(_)) => self.problem(
                path.clone(),
                match who {
                    Who::Workload => "choose one workload: open-loop `arrivals` or closed-loop `users`, not both",
                    Who::Client => "choose one for the client: open-loop `arrivals` or closed-loop `users`, not both",
                },
            ),
            (None, None) => self.problem(
                path.clone(),
                match who {
                    Who::Workload => "the workload needs `arrivals` (open loop) or `users` (closed loop)",
                    Who::Client => "a client needs `arrivals` (open loop) or `users` (closed loop)",
                },
            ),
        }
        let mut previous_end = SimDuration::ZERO;
        for (i, change) in schedule.iter().enumerate() {
            let change_path = path.key("schedule").index(i);
            if change.at < previous_end {
                self.problem(
                    change_path.key("at"),
                    format!(
                        "starts at {} before the previous change has ended (at {previous_end}): list changes in time order",
                        change.at
                    ),
                );
            }
            if change.at >= self.scenario.duration {
                self.problem(change_path.key("at"), "starts after the run has ended");
            }
            let non_negative = |r: f64| r.is_finite() && r >= 0.0;
            match (change.rate, change.ramp_to) {
                (Some(rate), None) => {
                    if !non_negative(rate) {
                        self.problem(
                            change_path.key("rate"),
                            format!("a rate must be zero or more per second, got {}", num(rate)),
                        );
                    } else {
                        self.rate_not_too_high(change_path.key("rate"), rate);
                    }
                    if change.over.is_some() {
                        self.problem(
                            change_path.key("over"),
                            "`over` belongs to a ramp (`ramp_to`); a step uses `for` or nothing",
                        );
                    }
                    if let Some(lasts) = change.lasts {
                        self.positive_duration(change_path.key("for"), lasts);
                    }
                    previous_end = change
                        .at
                        .saturating_add(change.lasts.unwrap_or(SimDuration::ZERO));
                }
                (None, Some(rate)) => {
                    if !non_negative(rate) {
                        self.problem(
                            change_path.key("ramp_to"),
                            format!("a rate must be zero or more per second, got {}", num(rate)),
                        );
                    } else {
                        self.rate_not_too_high(change_path.key("ramp_to"), rate);
                    }
                    match change.over {
                        Some(over) => self.positive_duration(change_path.key("over"), over),
                        None => self.problem(
                            change_path.clone(),
                            "a ramp (`ramp_to`) needs `over`, the time it takes",
                        ),
                    }
                    if change.lasts.is_some() {
                        self.problem(
                            change_path.key("for"),
                            "`for` belongs to a step (`rate`); a ramp uses `over`",
                        );
                    }
                    previous_end = change
                        .at
                        .saturating_add(change.over.unwrap_or(SimDuration::ZERO));
                }
                (Some(_), Some(_)) => self.problem(
                    change_path,
                    "a change is a step (`rate`) or a ramp (`ramp_to`), not both",
                ),
                (None, None) => self.problem(
                    change_path,
                    "a change needs `rate` (a step or spike) or `ramp_to` with `over` (a ramp)",
                ),
            }
        }
    }

    /// The named clients: the workload's own load left out, names unique,
    /// each client's load and route weights, and the bounds.
    fn clients(&mut self, path: &JsonPath, clients: &[Client]) {
        let w = &self.scenario.workload;
        for (field, present) in [
            ("arrivals", w.arrivals.is_some()),
            ("schedule", !w.schedule.is_empty()),
            ("users", w.users.is_some()),
        ] {
            if present {
                self.problem(
                    path.key(field),
                    format!(
                        "with `clients`, each client has its own `arrivals`, `schedule` or `users`: move `{field}` into a client"
                    ),
                );
            }
        }
        let clients_path = path.key("clients");
        if clients.is_empty() {
            self.problem(
                clients_path.clone(),
                "`clients` needs at least one client; without `clients`, the workload's own `arrivals` or `users` make one implicit client",
            );
        }
        if clients.len() > MAX_CLIENTS {
            self.problem(
                clients_path.clone(),
                format!(
                    "{} clients: at most {MAX_CLIENTS} are supported",
                    clients.len()
                ),
            );
        }
        let routes: Vec<&str> = w
            .routes
            .iter()
            .map(|r| r.name.as_deref().unwrap_or(&r.service))
            .collect();
        let mut names = BTreeSet::new();
        let mut users = 0u64;
        for (i, client) in clients.iter().enumerate() {
            let client_path = clients_path.index(i);
            if let Some(why) = bad_name(&client.name) {
                self.problem(client_path.key("name"), format!("a client name {why}"));
            } else if !names.insert(client.name.as_str()) {
                self.problem(
                    client_path.key("name"),
                    format!(
                        "a second client named `{}`: client names must be unique",
                        shown(&client.name)
                    ),
                );
            }
            self.load(
                &client_path,
                client.arrivals.as_ref(),
                &client.schedule,
                client.users.as_ref(),
                Who::Client,
            );
            users += client.users.as_ref().map_or(0, |u| u64::from(u.count));
            if let Some(weights) = &client.routes {
                self.client_weights(client_path.key("routes"), weights, &routes);
            }
            self.token(&client_path, client);
            if let Some(credential) = &client.credential
                && let Some(why) = bad_name(credential)
            {
                self.problem(
                    client_path.key("credential"),
                    format!("a credential class {why}"),
                );
            }
        }
        if users > u64::from(MAX_USERS) {
            self.problem(
                clients_path,
                format!("the clients' users add up to {users}: at most {MAX_USERS} in all"),
            );
        }
    }

    /// A client's weights over the routes, by route name: known routes,
    /// each weight zero or more, and at least one positive.
    fn client_weights(&mut self, path: JsonPath, weights: &BTreeMap<String, f64>, routes: &[&str]) {
        let mut total = 0.0;
        let mut each_valid = true;
        for (name, &weight) in weights {
            if !routes.contains(&name.as_str()) {
                each_valid = false;
                let hint = did_you_mean(name, routes.iter().copied())
                    .map(|s| format!("; did you mean `{}`?", shown(s)))
                    .unwrap_or_default();
                let known: Vec<String> = routes.iter().map(|r| shown(r)).collect();
                self.problem(
                    path.key(name),
                    format!(
                        "unknown route `{}`{hint} (routes: {})",
                        shown(name),
                        known.join(", ")
                    ),
                );
            } else if !(weight.is_finite() && weight >= 0.0) {
                each_valid = false;
                self.problem(
                    path.key(name),
                    format!("a weight must be zero or more, got {}", num(weight)),
                );
            } else {
                total += weight;
            }
        }
        if !each_valid {
            return;
        }
        if total <= 0.0 {
            self.problem(
                path,
                "no route has a positive weight: give at least one route a weight above zero (a route left out has none)",
            );
        } else if !total.is_finite() {
            self.problem(
                path,
                "the weights add up to more than a float can hold: use smaller weights",
            );
        }
    }
}
