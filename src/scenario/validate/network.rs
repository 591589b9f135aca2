//! The checks on the network: its latency and loss, the links between
//! services (known, distinct, at most one per pair, within the count the world
//! can hold) with their own latency and loss; and a reference to a link (as
//! faults make).

use std::collections::BTreeSet;

use super::{Checker, MAX_LINKS, shown};
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::*;

impl Checker<'_> {
    pub(super) fn network(&mut self) {
        let network = &self.scenario.network;
        let path = JsonPath::root().key("network");
        self.distribution(path.key("latency"), &network.latency);
        self.probability(path.key("loss"), network.loss);
        if network.links.len() > MAX_LINKS {
            self.problem(
                path.key("links"),
                format!(
                    "{} links: a network has at most {MAX_LINKS}",
                    network.links.len()
                ),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, link) in network.links.iter().enumerate() {
            let link_path = path.key("links").index(i);
            let from_ok = self.service_ref(link_path.key("from"), &link.from);
            let to_ok = self.service_ref(link_path.key("to"), &link.to);
            if from_ok && to_ok && link.from == link.to {
                self.problem(link_path.key("to"), "a link joins two different services");
            }
            let pair = if link.from <= link.to {
                (link.from.clone(), link.to.clone())
            } else {
                (link.to.clone(), link.from.clone())
            };
            if !seen.insert(pair) {
                self.problem(
                    link_path.clone(),
                    format!(
                        "a second link between `{}` and `{}` (links apply in both directions)",
                        shown(&link.from),
                        shown(&link.to)
                    ),
                );
            }
            if let Some(latency) = &link.latency {
                self.distribution(link_path.key("latency"), latency);
            }
            if let Some(loss) = link.loss {
                self.probability(link_path.key("loss"), loss);
            }
        }
    }

    pub(super) fn link_ref(&mut self, path: JsonPath, link: &LinkRef) {
        let a = self.service_ref(path.key("from"), &link.from);
        let b = self.service_ref(path.key("to"), &link.to);
        if a && b && link.from == link.to {
            self.problem(path.key("to"), "a link joins two different services");
        }
    }
}
