//! Gateways that the workload goes around: a route of the workload that
//! enters a service that is neither a gateway nor an auth service, in a
//! scenario where some gateway checks credentials, sent by a client whose
//! token is not valid (or expires): the credential invariant will stop the
//! run at the first such request to arrive.

use std::collections::BTreeSet;

use super::{JsonPath, Lints};
use crate::scenario::model::TokenKind;

impl Lints<'_> {
    pub(super) fn gateway_bypass(&mut self) {
        let scenario = self.scenario;
        let gateways: Vec<&str> = scenario
            .services
            .iter()
            .filter(|(_, s)| s.gateway.as_ref().is_some_and(|g| g.auth.is_some()))
            .map(|(name, _)| name.as_str())
            .collect();
        if gateways.is_empty() {
            return;
        }
        // Gateways and auth services are not checked.
        let mut exempt: BTreeSet<&str> = BTreeSet::new();
        for (name, service) in &scenario.services {
            if let Some(g) = &service.gateway {
                exempt.insert(name);
                exempt.extend(g.auth.as_ref().and_then(|a| a.service.as_deref()));
            }
        }
        let routes = JsonPath::root().key("workload").key("routes");
        for (r, route) in scenario.workload.routes.iter().enumerate() {
            if exempt.contains(route.service.as_str()) {
                continue;
            }
            // The first client of the route whose token will not pass.
            let offender = self.clients.iter().find(|c| {
                c.weights.get(r).is_some_and(|w| *w > 0.0)
                    && (c.token != TokenKind::Valid || c.token_expires_at.is_some())
            });
            let Some(client) = offender else {
                continue;
            };
            let token = match client.token {
                TokenKind::Valid => "a token that expires".to_string(),
                TokenKind::Invalid | TokenKind::Expired => {
                    format!("an {} token", client.token.as_str())
                }
                TokenKind::Missing => "no token".to_string(),
            };
            self.warn(
                routes.index(r).key("service"),
                format!(
                    "route `{}` enters `{}` directly, around the gateway{} that check{} credentials ({}), and client `{}` sends on it with {token}: the credential invariant will stop the run at the first such request",
                    route.name(),
                    route.service,
                    if gateways.len() == 1 { "" } else { "s" },
                    if gateways.len() == 1 { "s" } else { "" },
                    gateways.join(", "),
                    client.name,
                ),
                format!(
                    "send route `{}` to a gateway (\"service\": \"{}\"), or leave it out of client `{}`'s routes",
                    route.name(),
                    gateways[0],
                    client.name
                ),
            );
        }
    }
}
