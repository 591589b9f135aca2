//! The clients' side of a route: a request starts as a call on the route's
//! edge, and its end is counted for the route (and wakes a closed-loop user).

use crate::kernel::{Kernel, SimTime};

use super::calls::{Parent, counts_outcome};
use super::draws::{self};
use super::{Event, Status, World};

impl World<'_> {
    pub(super) fn send_request(&mut self, kernel: &mut Kernel<Event>, user: Option<u32>) {
        let request = match (user, &mut self.users) {
            (Some(user), Some(users)) => {
                let k = &mut users.requests[user as usize];
                *k += 1;
                draws::user_request(user, *k - 1)
            }
            _ => {
                self.open_loop_sent += 1;
                draws::open_loop_request(self.open_loop_sent - 1)
            }
        };
        let route = self.picker.pick(&mut self.draws.route(request));
        let stats = &mut self.route_stats[route as usize];
        stats.window.requests += 1;
        stats.in_flight += 1;
        let parent = Parent::Client { route, user };
        self.start_call(kernel, parent, request, route, None, false);
    }

    pub(super) fn client_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        route: u32,
        user: Option<u32>,
        sent: SimTime,
        outcome: Status,
    ) {
        let now = kernel.now();
        let stats = &mut self.route_stats[route as usize];
        stats.in_flight -= 1;
        counts_outcome(&mut stats.window, outcome);
        if outcome == Status::Ok {
            let latency = now - sent;
            stats.latency.record(latency);
            stats.window_latency.record(latency);
        }
        if let (Some(user), Some(users)) = (user, &self.users) {
            // Before its k-th request (k ≥ 1; the 0th is the start stagger).
            let k = users.requests[user as usize];
            let think = users.think.sample(&mut self.draws.think(user, k));
            kernel.schedule_in(think, Event::UserWake(user));
        }
    }
}
