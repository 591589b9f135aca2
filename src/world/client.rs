//! The clients: who sends requests, how many, and where. Each client has its
//! own arrival process (open loop) or users (closed loop), its own route mix
//! and a credential class; a workload without `clients` is one implicit
//! client. A request gets its context (id, route, client, key), starts as a
//! call on the route's edge, and its end is counted for the route and, when
//! clients are declared, for its client (and wakes a closed-loop user).
//!
//! The first client is kept inline in [`Clients`] and the others in a
//! vector, so the single implicit client's arrival path reads its process
//! and picker with no extra indirection; its draw keys and arrival stream
//! are those of the first version (see `draws.rs`), so a workload without
//! `clients` runs exactly as before.

use crate::kernel::dist::index;
use crate::kernel::{DrawKey, Kernel, KeyedStream, RngStreams, SimTime};
use crate::metrics::RouteStats;
use crate::scenario::{Compiled, Sampler};

use super::calls::{Parent, counts_outcome};
use super::draws::{ClientKeys, Draws};
use super::request::RequestContext;
use super::slab::Key;
use super::workload::{ArrivalProcess, RoutePicker};
use super::{Event, Status, World};

/// One client: its route mix, its load and the roots of its draw keys.
pub(super) struct Client {
    /// How its requests spread over the routes.
    picker: RoutePicker,
    /// The roots of its draw keys.
    keys: ClientKeys,
    /// The key of the open-loop request its scheduled arrival sends.
    due: DrawKey,
    /// Its open-loop arrival process, with that process's own stream.
    arrivals: Option<Arrivals>,
    /// Its closed-loop users.
    users: Option<ClientUsers>,
    /// Its name (for messages).
    name: String,
    /// Its credential class, by index into `Clients::credentials`.
    credential: u16,
    /// What is true of its token.
    token: crate::scenario::TokenKind,
    /// When its valid token expires (`SimTime::MAX`: never).
    token_expires_at: SimTime,
}

/// A client's open-loop arrivals: the process, and its own keyed stream, from
/// which the `n`-th arrival's draws come, keyed by the `n`-th request's key
/// (however many draws thinning takes for one arrival, the next arrival's are
/// its own). The key is derived once, when the arrival is scheduled, and the
/// request sent at that arrival takes it from here: the stream, not the key,
/// keeps the arrival's draws apart from the request's.
struct Arrivals {
    process: ArrivalProcess,
    stream: KeyedStream,
    /// Arrivals scheduled so far: the `n` of the next one's key.
    scheduled: u64,
}

impl Arrivals {
    /// The first arrival after `now`, or `None` if the rate stays zero; its
    /// request's key goes to `due`.
    #[inline]
    fn next_after(
        &mut self,
        now: SimTime,
        keys: &ClientKeys,
        due: &mut DrawKey,
    ) -> Option<SimTime> {
        *due = keys.open_loop_request(self.scheduled);
        self.scheduled += 1;
        self.process.next_after(now, &mut self.stream.rng(*due))
    }
}

/// A client's closed-loop users: a range of the users numbered over every
/// client, client by client.
struct ClientUsers {
    first: u32,
    count: u32,
    think: Sampler,
}

/// Every client of the run.
pub(super) struct Clients {
    /// The first client (the implicit one without `clients`), inline.
    first: Client,
    /// The others, in file order (client `i` is `rest[i - 1]`).
    rest: Vec<Client>,
    /// Requests each closed-loop user (numbered over every client) has made
    /// so far: the `k` of its draw keys.
    user_requests: Vec<u64>,
    /// The clients with users, by their first user: (first user, client).
    by_first_user: Vec<(u32, u32)>,
    /// The credential classes, by index (sorted).
    credentials: Vec<String>,
    /// Per client, what it saw, when the workload declares `clients`;
    /// empty for the implicit client, whose figures are the routes'.
    pub(super) stats: Vec<RouteStats>,
}

impl Clients {
    /// The clients of a compiled scenario, their arrival streams from
    /// `streams`.
    pub(super) fn new(compiled: &Compiled, streams: &RngStreams) -> Clients {
        let think = &compiled.samplers().think;
        let mut users_so_far = 0u32;
        let mut by_first_user = Vec::new();
        let mut clients: Vec<Client> = compiled
            .clients()
            .iter()
            .enumerate()
            .map(|(i, target)| {
                let users =
                    target
                        .users
                        .zip(think.get(i).cloned().flatten())
                        .map(|(count, think)| {
                            let first = users_so_far;
                            // Validation bounds the users of all clients together.
                            users_so_far = users_so_far.saturating_add(count);
                            by_first_user.push((first, i as u32));
                            ClientUsers {
                                first,
                                count,
                                think,
                            }
                        });
                Client {
                    picker: RoutePicker::new(&target.weights),
                    keys: ClientKeys::new(&target.name),
                    due: DrawKey::root(0),
                    arrivals: target.arrivals.as_ref().map(|a| Arrivals {
                        process: ArrivalProcess::new(a, &target.schedule),
                        stream: streams.keyed(&ClientKeys::arrival_stream(&target.name)),
                        scheduled: 0,
                    }),
                    users,
                    name: target.name.clone(),
                    credential: target.credential,
                    token: target.token,
                    token_expires_at: target
                        .token_expires_at
                        .map_or(SimTime::MAX, |d| SimTime::ZERO + d),
                }
            })
            .collect();
        debug_assert!(!clients.is_empty(), "compile makes at least one client");
        let first = clients.remove(0);
        let stats = if compiled.clients_declared() {
            (0..=clients.len()).map(|_| RouteStats::default()).collect()
        } else {
            Vec::new()
        };
        Clients {
            first,
            rest: clients,
            user_requests: vec![0; users_so_far as usize],
            by_first_user,
            credentials: compiled.credentials().to_vec(),
            stats,
        }
    }

    /// Whether the workload declares its `clients` (they then have figures
    /// of their own).
    pub(super) fn declared(&self) -> bool {
        !self.stats.is_empty()
    }

    /// The names of the declared clients, in file order; none for the
    /// implicit client.
    pub(super) fn declared_names(&self) -> Vec<String> {
        if !self.declared() {
            return Vec::new();
        }
        std::iter::once(&self.first)
            .chain(&self.rest)
            .map(|c| c.name.clone())
            .collect()
    }

    /// How many clients there are.
    pub(super) fn len(&self) -> usize {
        1 + self.rest.len()
    }

    // A compare with zero, not `checked_sub`: one instruction fewer on
    // every arrival (measured with callgrind).
    #[inline]
    fn get(&self, client: u32) -> &Client {
        if client == 0 {
            &self.first
        } else {
            &self.rest[client as usize - 1]
        }
    }

    #[inline]
    fn get_mut(&mut self, client: u32) -> &mut Client {
        if client == 0 {
            &mut self.first
        } else {
            &mut self.rest[client as usize - 1]
        }
    }

    /// The client of a closed-loop user.
    fn of_user(&self, user: u32) -> u32 {
        if self.rest.is_empty() {
            return 0;
        }
        let at = self
            .by_first_user
            .partition_point(|(first, _)| *first <= user);
        self.by_first_user[at.saturating_sub(1)].1
    }

    /// The key of the next request of `client` (sent by `user`, for a
    /// closed-loop one, counted; an open-loop one's was derived when its
    /// arrival was scheduled); and the client, for its route pick.
    #[inline]
    fn next_request(&mut self, client: u32, user: Option<u32>) -> (DrawKey, &Client) {
        match user {
            Some(user) => {
                let sent = &mut self.user_requests[user as usize];
                *sent += 1;
                let k = *sent - 1;
                let c = self.get(client);
                let first = c.users.as_ref().map_or(0, |u| u.first);
                (c.keys.user_request(user - first, k), c)
            }
            None => {
                // Open loop: the key its arrival was drawn with.
                let c = self.get(client);
                (c.due, c)
            }
        }
    }

    /// The think time of `user` (of `client`) before its next request.
    fn think(&self, draws: &Draws, client: u32, user: u32) -> Option<crate::kernel::SimDuration> {
        let c = self.get(client);
        let users = c.users.as_ref()?;
        let k = self.user_requests[user as usize];
        let key = c.keys.think(user - users.first, k);
        Some(users.think.sample(&mut draws.think(key)))
    }

    /// A client's name and credential class.
    pub(super) fn name_and_credential(&self, client: u16) -> (&str, &str) {
        let c = self.get(u32::from(client));
        let credential = self
            .credentials
            .get(usize::from(c.credential))
            .map_or("none", String::as_str);
        (&c.name, credential)
    }

    /// A client's credential class (an index into the compiled
    /// credentials), its token at `now` (a valid token past its expiry is
    /// expired) and when a valid token expires (`SimTime::MAX`: never).
    pub(super) fn credential(
        &self,
        client: u16,
        now: SimTime,
    ) -> (u16, crate::scenario::TokenKind, SimTime) {
        use crate::scenario::TokenKind;
        let c = self.get(u32::from(client));
        let token = match c.token {
            TokenKind::Valid if now >= c.token_expires_at => TokenKind::Expired,
            token => token,
        };
        (c.credential, token, c.token_expires_at)
    }

    /// The name of the client of a closed-loop user, and the user's number
    /// within it (for messages).
    pub(super) fn describe_user(&self, user: u32) -> (&str, u32) {
        let c = self.get(self.of_user(user));
        (&c.name, user - c.users.as_ref().map_or(0, |u| u.first))
    }

    /// A client's name (for messages).
    pub(super) fn name(&self, client: u32) -> &str {
        &self.get(client).name
    }
}

impl World<'_> {
    /// Schedules every client's first arrival and each user's first wake
    /// (staggered by one think time, so users do not start in lockstep),
    /// client by client.
    pub(super) fn start_clients(&mut self, kernel: &mut Kernel<Event>) {
        for client in 0..self.clients.len() as u32 {
            let c = self.clients.get_mut(client);
            if let Some(arrivals) = &mut c.arrivals
                && let Some(first) = arrivals.next_after(SimTime::ZERO, &c.keys, &mut c.due)
            {
                kernel.schedule_at(first, Event::Arrival(client));
            }
            let c = self.clients.get(client);
            if let Some(users) = &c.users {
                for local in 0..users.count {
                    let key = c.keys.think(local, 0);
                    let delay = users.think.sample(&mut self.draws.think(key));
                    kernel.schedule_in(delay, Event::UserWake(users.first + local));
                }
            }
        }
    }

    /// An open-loop request of `client` is due: it is sent, and the next
    /// one scheduled.
    #[inline]
    pub(super) fn arrival(&mut self, kernel: &mut Kernel<Event>, client: u32) {
        self.send_request(kernel, client, None);
        let c = self.clients.get_mut(client);
        if let Some(arrivals) = &mut c.arrivals
            && let Some(next) = arrivals.next_after(kernel.now(), &c.keys, &mut c.due)
        {
            kernel.schedule_at(next, Event::Arrival(client));
        }
    }

    /// A closed-loop user has finished thinking: it sends its next request.
    pub(super) fn user_wake(&mut self, kernel: &mut Kernel<Event>, user: u32) {
        let client = self.clients.of_user(user);
        self.send_request(kernel, client, Some(user));
    }

    fn send_request(&mut self, kernel: &mut Kernel<Event>, client: u32, user: Option<u32>) {
        let (request, sender) = self.clients.next_request(client, user);
        let route = sender.picker.pick(&mut self.draws.route(request));
        if self.requests.len() >= self.max_requests {
            // At the bound on requests in flight: refused and counted, so
            // that requests that never end cannot exhaust memory.
            let stats = &mut self.route_stats[route as usize];
            stats.window.requests += 1;
            stats.window.capped += 1;
            self.phases.count_route_capped(route, kernel.now());
            if let Some(stats) = self.clients.stats.get_mut(client as usize) {
                stats.window.requests += 1;
                stats.window.capped += 1;
            }
            self.requests_capped += 1;
            if let Some(user) = user
                && let Some(think) = self.clients.think(&self.draws, client, user)
            {
                kernel.schedule_in(think, Event::UserWake(user));
            }
            return;
        }
        let keys = self.route_requests[route as usize].2;
        let key = keys.map(|n| draw_key(&mut self.draws.request_key(request), n));
        let id = self.requests_sent;
        self.requests_sent += 1;
        // At most `MAX_CLIENTS` (1024) clients: the index fits in 16 bits.
        let context = RequestContext::new(id, kernel.now(), route, client as u16, user, key);
        let context = self.requests.insert(context);
        let stats = &mut self.route_stats[route as usize];
        stats.window.requests += 1;
        stats.in_flight += 1;
        if let Some(stats) = self.clients.stats.get_mut(client as usize) {
            stats.window.requests += 1;
            stats.in_flight += 1;
        }
        let parent = Parent::Client { request: context };
        self.start_call(kernel, parent, request, route, None, false);
    }

    /// A client request has ended: its context goes, and work still on its
    /// behalf downstream becomes orphan work.
    #[inline(always)]
    pub(super) fn client_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        request: Key,
        outcome: Status,
    ) {
        let now = kernel.now();
        let context = self
            .requests
            .remove(request)
            .expect("a client request ends once");
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.request_end(request, now, outcome);
        }
        let (route, client, user, sent) = (
            context.route,
            u32::from(context.client),
            context.user(),
            context.sent,
        );
        if self.messaging.is_some() {
            self.request_ended(kernel, request, &context, outcome == Status::Ok);
        }
        let degraded = u64::from(context.degraded && outcome == Status::Ok);
        let stats = &mut self.route_stats[route as usize];
        stats.in_flight -= 1;
        counts_outcome(&mut stats.window, outcome);
        stats.window.degraded += degraded;
        if outcome == Status::Ok {
            let latency = now - sent;
            stats
                .window_latency
                .record_with_total(&mut stats.latency, latency);
        } else {
            stats.record_failure_latency(outcome as usize, now - sent);
        }
        // Declared clients only: the implicit client's figures are the
        // routes', and this is one length check for it.
        if let Some(stats) = self.clients.stats.get_mut(client as usize) {
            stats.in_flight -= 1;
            counts_outcome(&mut stats.window, outcome);
            stats.window.degraded += degraded;
            if outcome == Status::Ok {
                let latency = now - sent;
                stats
                    .window_latency
                    .record_with_total(&mut stats.latency, latency);
            }
        }
        // Before its k-th request (k ≥ 1; the 0th is the start stagger).
        if let Some(user) = user
            && let Some(think) = self.clients.think(&self.draws, client, user)
        {
            kernel.schedule_in(think, Event::UserWake(user));
        }
    }
}

/// A request key uniformly among `n` (1 to 2^32 - 1, as validation allows):
/// below 2^32 - 1.
fn draw_key(rng: &mut crate::kernel::KeyedRng, n: u64) -> u32 {
    index(rng, u32::try_from(n).unwrap_or(u32::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use crate::kernel::RngStreams;
    use crate::scenario;
    use crate::world::World;

    /// Each client of `workload` as `name credential users`, where users
    /// is `first+count` or `-` for an open-loop client; the client of each
    /// user; whether the clients have figures of their own.
    fn clients(workload: &str) -> (Vec<String>, Vec<u32>, bool) {
        let text = format!(
            r#"{{"name": "c", "duration": "1s",
                "services": {{"s": {{"service_time": {{"constant": "1ms"}}}}}},
                "workload": {workload}}}"#
        );
        let compiled = scenario::parse(&text, "c.json").expect("valid");
        let mut sink = ();
        let (world, _) = World::new(&compiled, &RngStreams::new(1), &mut sink);
        let clients = &world.clients;
        let described = (0..clients.len() as u32)
            .map(|c| {
                let (name, credential) = clients.name_and_credential(c as u16);
                let users = clients
                    .get(c)
                    .users
                    .as_ref()
                    .map_or("-".to_string(), |u| format!("{}+{}", u.first, u.count));
                format!("{name} {credential} {users}")
            })
            .collect();
        let owners = (0..clients.user_requests.len() as u32)
            .map(|u| clients.of_user(u))
            .collect();
        (described, owners, clients.declared())
    }

    #[test]
    fn users_are_numbered_over_every_client_in_order() {
        let (described, owners, declared) = clients(
            r#"{"routes": [{"service": "s"}],
                "clients": [
                  {"name": "a", "users": {"count": 3, "think_time": {"constant": "1s"}}},
                  {"name": "b", "arrivals": {"poisson": {"rate": 1}}, "credential": "admin"},
                  {"name": "c", "users": {"count": 2, "think_time": {"constant": "1s"}},
                   "credential": "user"}]}"#,
        );
        assert_eq!(described, ["a none 0+3", "b admin -", "c user 3+2"]);
        assert_eq!(owners, [0, 0, 0, 2, 2]);
        assert!(declared);
    }

    #[test]
    fn the_implicit_client_is_the_default_one_without_figures_of_its_own() {
        let (described, owners, declared) = clients(
            r#"{"users": {"count": 2, "think_time": {"constant": "1s"}},
                "routes": [{"service": "s"}]}"#,
        );
        assert_eq!(described, ["default none 0+2"]);
        assert_eq!(owners, [0, 0]);
        assert!(!declared);
    }
}
