//! Each service's admission control: its admission limit (`rate_limit`)
//! and its load shedding (`shed`), built and checked by the patterns' own
//! constructors.

use super::*;

/// Each service's admission limit (`rate_limit`), built by the pattern's
/// own constructor: the prototype every instance's bucket starts from; and
/// its load shedding (`shed`), checked by the pattern's own validation.
#[allow(clippy::type_complexity)]
pub(super) fn compile_admission(
    scenario: &Scenario,
) -> Result<(Vec<Option<TokenBucket>>, Vec<Option<ShedConfig>>), Problems> {
    let mut problems = Problems::new();
    let mut buckets = Vec::with_capacity(scenario.services.len());
    let mut shed = Vec::with_capacity(scenario.services.len());
    for (name, service) in &scenario.services {
        let path = JsonPath::root().key("services").key(name);
        shed.push(service.shed.as_ref().and_then(|s| {
            // Without a high watermark, one the queue never reaches.
            let high = s.queue_high.unwrap_or(u32::MAX);
            let config = ShedConfig {
                queue_high: high,
                queue_low: s.queue_low.unwrap_or_else(|| high.saturating_sub(1)),
                max_concurrency: s.max_concurrency,
            };
            match config.validate() {
                Ok(()) => Some(config),
                Err(e) => {
                    problems.push((path.key("shed").key(e.field), e.reason.to_string()));
                    None
                }
            }
        }));
        let Some(r) = &service.rate_limit else {
            buckets.push(None);
            continue;
        };
        match token_bucket(r, &path.key("rate_limit")) {
            Ok(bucket) => buckets.push(Some(bucket)),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok((buckets, shed))
    } else {
        Err(problems)
    }
}
