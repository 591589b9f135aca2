use super::*;
use proptest::prelude::*;

const SEC: Nanos = 1_000_000_000;

fn remote(failure_mode: FailureMode) -> Authenticator {
    Authenticator::new(Validation::Remote(RemoteValidation {
        cache_ttl: Duration::from_secs(30),
        cache_capacity: 2,
        failure_mode,
        status_on_error: Status::Forbidden,
    }))
    .unwrap()
}

fn open(max_stale_secs: u64) -> FailureMode {
    FailureMode::Open {
        max_stale: Duration::from_secs(max_stale_secs),
    }
}

const UNAUTHORIZED: Verdict = Verdict::Reject(Status::Unauthorized);
const FORBIDDEN: Verdict = Verdict::Reject(Status::Forbidden);

#[test]
fn local_validation_maps_each_class_and_never_asks() {
    let mut auth = Authenticator::new(Validation::Local).unwrap();
    let cases = [
        (Credential::Valid, Verdict::Forward),
        (Credential::Missing, UNAUTHORIZED),
        (Credential::Invalid, UNAUTHORIZED),
        (Credential::Expired, UNAUTHORIZED),
    ];
    for (credential, expected) in cases {
        assert_eq!(auth.decide(0, credential, 1), expected, "{credential:?}");
    }
    let counts = auth.counts();
    assert_eq!(counts.forwarded, 1);
    assert_eq!(counts.unauthorized, 3);
    assert_eq!(counts.remote_checks, 0);
    assert_eq!(auth.cached(), 0);
}

#[test]
fn remote_validation_asks_once_then_uses_the_cache_until_the_ttl() {
    let mut auth = remote(FailureMode::Closed);
    // A missing token is refused without asking.
    assert_eq!(auth.decide(0, Credential::Missing, 9), UNAUTHORIZED);
    assert_eq!(auth.decide(0, Credential::Valid, 1), Verdict::NeedRemote);
    let active = RemoteAnswer::Active {
        expires_at: 3_600 * SEC,
    };
    assert_eq!(auth.handle_remote_answer(SEC, 1, active), Verdict::Forward);
    // Fresh until 1 s + 30 s, exclusive.
    assert_eq!(
        auth.decide(30 * SEC, Credential::Valid, 1),
        Verdict::Forward
    );
    assert_eq!(
        auth.decide(31 * SEC - 1, Credential::Valid, 1),
        Verdict::Forward
    );
    assert_eq!(
        auth.decide(31 * SEC, Credential::Valid, 1),
        Verdict::NeedRemote
    );
    let counts = auth.counts();
    assert_eq!(counts.remote_checks, 2);
    assert_eq!(counts.cache_hits, 2);
    assert_eq!(counts.forwarded, 3);
    assert_eq!(counts.unauthorized, 1);
}

#[test]
fn an_inactive_answer_is_401_and_cached() {
    let mut auth = remote(FailureMode::Closed);
    assert_eq!(auth.decide(0, Credential::Invalid, 2), Verdict::NeedRemote);
    assert_eq!(
        auth.handle_remote_answer(0, 2, RemoteAnswer::Inactive),
        UNAUTHORIZED
    );
    assert_eq!(auth.decide(10 * SEC, Credential::Invalid, 2), UNAUTHORIZED);
    assert_eq!(auth.counts().cache_hits, 1);
}

#[test]
fn a_positive_answer_is_fresh_no_longer_than_the_token_lives() {
    let mut auth = remote(FailureMode::Closed);
    assert_eq!(auth.decide(0, Credential::Valid, 3), Verdict::NeedRemote);
    let active = RemoteAnswer::Active {
        expires_at: 5 * SEC,
    };
    assert_eq!(auth.handle_remote_answer(0, 3, active), Verdict::Forward);
    assert_eq!(
        auth.decide(5 * SEC - 1, Credential::Valid, 3),
        Verdict::Forward
    );
    // Expired at 5 s, although the TTL would run to 30 s: asked again.
    assert_eq!(
        auth.decide(5 * SEC, Credential::Expired, 3),
        Verdict::NeedRemote
    );
}

#[test]
fn an_active_answer_that_arrives_after_the_expiry_is_refused() {
    let mut auth = remote(FailureMode::Closed);
    assert_eq!(auth.decide(0, Credential::Valid, 4), Verdict::NeedRemote);
    let active = RemoteAnswer::Active { expires_at: SEC };
    assert_eq!(auth.handle_remote_answer(SEC, 4, active), UNAUTHORIZED);
}

#[test]
fn fail_closed_refuses_during_an_outage_even_with_a_stale_positive_answer() {
    for status in [Status::Forbidden, Status::Unavailable] {
        let mut auth = Authenticator::new(Validation::Remote(RemoteValidation {
            status_on_error: status,
            ..RemoteValidation::default()
        }))
        .unwrap();
        auth.decide(0, Credential::Valid, 1);
        let active = RemoteAnswer::Active {
            expires_at: 3_600 * SEC,
        };
        assert_eq!(auth.handle_remote_answer(0, 1, active), Verdict::Forward);
        assert_eq!(
            auth.decide(40 * SEC, Credential::Valid, 1),
            Verdict::NeedRemote
        );
        assert_eq!(
            auth.handle_remote_answer(40 * SEC, 1, RemoteAnswer::Unreachable),
            Verdict::Reject(status)
        );
        assert_eq!(auth.counts().refused_on_error, 1);
        assert_eq!(auth.counts().forwarded_fail_open, 0);
    }
}

#[test]
fn fail_open_admits_only_a_still_cached_positive_answer_within_max_stale() {
    let mut auth = remote(open(60));
    let active = RemoteAnswer::Active {
        expires_at: 3_600 * SEC,
    };
    auth.decide(0, Credential::Valid, 1);
    auth.handle_remote_answer(0, 1, active);
    auth.decide(0, Credential::Invalid, 2);
    auth.handle_remote_answer(0, 2, RemoteAnswer::Inactive);
    let outage = |auth: &mut Authenticator, at, key| {
        assert_eq!(auth.decide(at, Credential::Valid, key), Verdict::NeedRemote);
        auth.handle_remote_answer(at, key, RemoteAnswer::Unreachable)
    };
    // Fresh until 30 s, then stale up to 30 s + 60 s.
    assert_eq!(outage(&mut auth, 31 * SEC, 1), Verdict::ForwardFailOpen);
    // A stale negative answer, or none at all, admits nothing.
    assert_eq!(outage(&mut auth, 31 * SEC, 2), FORBIDDEN);
    assert_eq!(outage(&mut auth, 32 * SEC, 3), FORBIDDEN);
    assert_eq!(outage(&mut auth, 90 * SEC - 1, 1), Verdict::ForwardFailOpen);
    assert_eq!(outage(&mut auth, 90 * SEC, 1), FORBIDDEN);
    let counts = auth.counts();
    assert_eq!(counts.forwarded_fail_open, 2);
    assert_eq!(counts.refused_on_error, 3);
}

#[test]
fn an_evicted_answer_no_longer_admits_under_fail_open() {
    let mut auth = remote(FailureMode::Open {
        max_stale: Duration::MAX,
    });
    let active = RemoteAnswer::Active {
        expires_at: 3_600 * SEC,
    };
    for key in 1..=3 {
        auth.decide(0, Credential::Valid, key);
        auth.handle_remote_answer(0, key, active);
    }
    // Capacity 2: token 1, the least recently used, was evicted by token 3.
    assert_eq!(auth.cached(), 2);
    assert_eq!(auth.counts().cache_evictions, 1);
    let at = 100 * SEC;
    auth.decide(at, Credential::Valid, 1);
    assert_eq!(
        auth.handle_remote_answer(at, 1, RemoteAnswer::Unreachable),
        FORBIDDEN
    );
    auth.decide(at, Credential::Valid, 2);
    assert_eq!(
        auth.handle_remote_answer(at, 2, RemoteAnswer::Unreachable),
        Verdict::ForwardFailOpen
    );
}

#[test]
fn an_expired_token_reaches_a_backend_only_by_fail_open() {
    // The scenario users study: a token active when last checked, expired since,
    // during an auth-service outage.
    for (mode, expected) in [
        (FailureMode::Closed, FORBIDDEN),
        (open(600), Verdict::ForwardFailOpen),
    ] {
        let mut auth = remote(mode);
        auth.decide(0, Credential::Valid, 5);
        let active = RemoteAnswer::Active {
            expires_at: 10 * SEC,
        };
        assert_eq!(auth.handle_remote_answer(0, 5, active), Verdict::Forward);
        assert_eq!(
            auth.decide(20 * SEC, Credential::Expired, 5),
            Verdict::NeedRemote
        );
        assert_eq!(
            auth.handle_remote_answer(20 * SEC, 5, RemoteAnswer::Unreachable),
            expected,
            "{mode:?}"
        );
        // With the auth service back, the expired token is refused.
        assert_eq!(
            auth.decide(21 * SEC, Credential::Expired, 5),
            Verdict::NeedRemote
        );
        assert_eq!(
            auth.handle_remote_answer(21 * SEC, 5, RemoteAnswer::Inactive),
            UNAUTHORIZED
        );
    }
}

#[test]
fn an_answer_that_arrives_during_an_outage_is_used() {
    // Two requests for one token ask at once; the first answer arrives, the second
    // call fails: the second request is served by the first answer.
    let mut auth = remote(FailureMode::Closed);
    assert_eq!(auth.decide(0, Credential::Valid, 1), Verdict::NeedRemote);
    assert_eq!(auth.decide(0, Credential::Valid, 1), Verdict::NeedRemote);
    let active = RemoteAnswer::Active {
        expires_at: 3_600 * SEC,
    };
    assert_eq!(auth.handle_remote_answer(SEC, 1, active), Verdict::Forward);
    assert_eq!(
        auth.handle_remote_answer(2 * SEC, 1, RemoteAnswer::Unreachable),
        Verdict::Forward
    );
}

#[test]
fn bad_remote_configurations_are_config_errors() {
    let field = |config: RemoteValidation| {
        Authenticator::new(Validation::Remote(config))
            .unwrap_err()
            .field
    };
    let base = RemoteValidation::default();
    assert_eq!(
        field(RemoteValidation {
            cache_ttl: Duration::ZERO,
            ..base
        }),
        "cache_ttl"
    );
    assert_eq!(
        field(RemoteValidation {
            cache_capacity: 0,
            ..base
        }),
        "cache_capacity"
    );
    assert_eq!(
        field(RemoteValidation {
            cache_capacity: MAX_CACHE_CAPACITY + 1,
            ..base
        }),
        "cache_capacity"
    );
    assert_eq!(
        field(RemoteValidation {
            status_on_error: Status::NotFound,
            ..base
        }),
        "status_on_error"
    );
}

/// What a token is, for the whole of a run.
#[derive(Clone, Copy, Debug)]
enum Token {
    Missing,
    Forged,
    Genuine { expires_at: Nanos },
}

impl Token {
    fn class_at(self, now: Nanos) -> Credential {
        match self {
            Token::Missing => Credential::Missing,
            Token::Forged => Credential::Invalid,
            Token::Genuine { expires_at } if now < expires_at => Credential::Valid,
            Token::Genuine { .. } => Credential::Expired,
        }
    }

    /// What a correct auth service says at `now`.
    fn answer_at(self, now: Nanos) -> RemoteAnswer {
        match self {
            Token::Genuine { expires_at } if now < expires_at => {
                RemoteAnswer::Active { expires_at }
            }
            _ => RemoteAnswer::Inactive,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// A request with token `token` arrives `dt_ms` later.
    Arrive { dt_ms: u64, token: usize },
    /// `dt_ms` later, a pending check completes (or fails, in an outage).
    Answer {
        dt_ms: u64,
        pick: usize,
        outage: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..4_000, 0usize..6).prop_map(|(dt_ms, token)| Op::Arrive { dt_ms, token }),
        (0u64..4_000, any::<usize>(), any::<bool>()).prop_map(|(dt_ms, pick, outage)| {
            Op::Answer {
                dt_ms,
                pick,
                outage,
            }
        }),
    ]
}

fn failure_mode() -> impl Strategy<Value = FailureMode> {
    prop_oneof![
        Just(FailureMode::Closed),
        (0u64..60_000).prop_map(|ms| FailureMode::Open {
            max_stale: Duration::from_millis(ms)
        }),
        Just(FailureMode::Open {
            max_stale: Duration::MAX
        }),
    ]
}

/// The invariant, on one verdict for a request whose credential was `class` when
/// it arrived.
fn check(verdict: Verdict, class: Credential, mode: FailureMode) -> Result<(), TestCaseError> {
    if verdict.forwards() {
        prop_assert!(
            class != Credential::Missing,
            "a missing credential forwarded"
        );
        prop_assert!(
            class != Credential::Invalid,
            "an invalid credential forwarded"
        );
    }
    if verdict == Verdict::Forward {
        prop_assert_eq!(class, Credential::Valid, "forwarded as verified");
    }
    if verdict == Verdict::ForwardFailOpen {
        prop_assert!(
            matches!(mode, FailureMode::Open { .. }),
            "fail-open when closed"
        );
    }
    if class == Credential::Expired && verdict.forwards() {
        prop_assert_eq!(
            verdict,
            Verdict::ForwardFailOpen,
            "an expired one, verified"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No missing or invalid credential is ever forwarded, and an expired one only
    /// under fail-open on a cached answer, whatever the interleaving of requests,
    /// answers, outages, expiries and evictions.
    #[test]
    fn no_missing_or_invalid_credential_is_ever_forwarded(
        expiries_ms in prop::collection::vec(0u64..60_000, 3),
        ttl_ms in 1u64..20_000,
        capacity in 1usize..4,
        mode in failure_mode(),
        remote_validation in prop::bool::weighted(0.9),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let tokens = [
            Token::Missing,
            Token::Forged,
            Token::Forged,
            Token::Genuine { expires_at: expiries_ms[0] * 1_000_000 },
            Token::Genuine { expires_at: expiries_ms[1] * 1_000_000 },
            Token::Genuine { expires_at: expiries_ms[2] * 1_000_000 },
        ];
        let validation = if remote_validation {
            Validation::Remote(RemoteValidation {
                cache_ttl: Duration::from_millis(ttl_ms),
                cache_capacity: capacity,
                failure_mode: mode,
                status_on_error: Status::Forbidden,
            })
        } else {
            Validation::Local
        };
        let mut auth = Authenticator::new(validation).unwrap();
        let mut now = 0;
        // Requests waiting for the auth service: (token, class on arrival).
        let mut pending: Vec<(usize, Credential)> = Vec::new();
        let mut forwarded_expired = 0;
        for op in ops {
            match op {
                Op::Arrive { dt_ms, token } => {
                    now += dt_ms * 1_000_000;
                    let class = tokens[token].class_at(now);
                    let verdict = auth.decide(now, class, token as u64);
                    if verdict == Verdict::NeedRemote {
                        prop_assert!(remote_validation);
                        prop_assert!(class != Credential::Missing, "asked about no token");
                        pending.push((token, class));
                    } else {
                        check(verdict, class, mode)?;
                    }
                }
                Op::Answer { dt_ms, pick, outage } => {
                    if pending.is_empty() {
                        continue;
                    }
                    now += dt_ms * 1_000_000;
                    let (token, class) = pending.remove(pick % pending.len());
                    let answer = if outage {
                        RemoteAnswer::Unreachable
                    } else {
                        tokens[token].answer_at(now)
                    };
                    let verdict = auth.handle_remote_answer(now, token as u64, answer);
                    prop_assert!(verdict != Verdict::NeedRemote);
                    check(verdict, class, mode)?;
                    if verdict.forwards() && class == Credential::Expired {
                        forwarded_expired += 1;
                    }
                }
            }
        }
        // Every expired token that got through was counted apart.
        prop_assert!(auth.counts().forwarded_fail_open >= forwarded_expired);
    }
}
