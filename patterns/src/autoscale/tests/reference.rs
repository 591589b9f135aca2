//! Kubernetes' HPA as Go would run it, transliterated without any of the bounded
//! autoscaler's structure: pods as a map of name → metric, unbounded slices with
//! `outdated` flags, times as signed nanoseconds.

use super::super::{Pod, PolicyKind, ScalingRules, SelectPolicy, Target};

#[derive(Clone, Copy)]
struct Event {
    change: i64,
    at: i128,
    outdated: bool,
}

pub struct Reference {
    pub min: i64,
    pub max: i64,
    pub up: ScalingRules,
    pub down: ScalingRules,
    pub target: Target,
    recommendations: Vec<(i64, i128)>,
    up_events: Vec<Event>,
    down_events: Vec<Event>,
}

fn nanos(d: std::time::Duration) -> i128 {
    d.as_nanos() as i128
}

impl Reference {
    pub fn new(min: u32, max: u32, up: ScalingRules, down: ScalingRules, target: Target) -> Self {
        Reference {
            min: min.into(),
            max: max.into(),
            up,
            down,
            target,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.down.tolerance) <= ratio && ratio <= (1.0 + self.up.tolerance)
    }

    /// The usage ratio of `metrics` (name, value) with `requests` by name.
    fn ratio(&self, metrics: &[(usize, i64)], requests: &[i64]) -> Option<f64> {
        match self.target {
            Target::Utilization { percent } => {
                let total: i64 = metrics.iter().map(|&(_, v)| v).sum();
                let asked: i64 = metrics.iter().map(|&(name, _)| requests[name]).sum();
                if asked == 0 {
                    return None;
                }
                let utilization = (total * 100 / asked) as i32;
                Some(f64::from(utilization) / f64::from(percent))
            }
            Target::AverageValue { milli } => {
                let total: i64 = metrics.iter().map(|&(_, v)| v).sum();
                let usage = total / metrics.len() as i64;
                Some(usage as f64 / milli as f64)
            }
        }
    }

    /// `GetResourceReplicas` / `calcPlainMetricReplicas`; `None` is an error.
    pub fn replicas(&self, current: i64, pods: &[Pod]) -> Option<i64> {
        let mut metrics: Vec<(usize, i64)> = Vec::new();
        let mut requests = vec![0i64; pods.len()];
        let (mut unready, mut missing) = (Vec::new(), Vec::new());
        for (name, pod) in pods.iter().enumerate() {
            match *pod {
                Pod::Ready { usage, request } => {
                    requests[name] = request as i64;
                    metrics.push((name, usage as i64));
                }
                Pod::Unready { request } => {
                    requests[name] = request as i64;
                    unready.push(name);
                }
                Pod::Missing { request } => {
                    requests[name] = request as i64;
                    missing.push(name);
                }
            }
        }
        if metrics.is_empty() {
            return None;
        }
        let ready_count = metrics.len();
        let usage_ratio = self.ratio(&metrics, &requests)?;
        let scale_up_with_unready = !unready.is_empty() && usage_ratio > 1.0;
        if !scale_up_with_unready && missing.is_empty() {
            if self.is_within(usage_ratio) {
                return Some(current);
            }
            return Some((usage_ratio * ready_count as f64).ceil() as i64);
        }
        if !missing.is_empty() {
            if usage_ratio < 1.0 {
                for &name in &missing {
                    let value = match self.target {
                        Target::Utilization { percent } => {
                            requests[name] * i64::from(percent.max(100)) / 100
                        }
                        Target::AverageValue { milli } => milli as i64,
                    };
                    metrics.push((name, value));
                }
            } else if usage_ratio > 1.0 {
                for &name in &missing {
                    metrics.push((name, 0));
                }
            }
        }
        if scale_up_with_unready {
            for &name in &unready {
                metrics.push((name, 0));
            }
        }
        let new_ratio = self.ratio(&metrics, &requests)?;
        if self.is_within(new_ratio)
            || (usage_ratio < 1.0 && new_ratio > 1.0)
            || (usage_ratio > 1.0 && new_ratio < 1.0)
        {
            return Some(current);
        }
        let new_replicas = (new_ratio * metrics.len() as f64).ceil() as i64;
        if (new_ratio < 1.0 && new_replicas > current)
            || (new_ratio > 1.0 && new_replicas < current)
        {
            return Some(current);
        }
        Some(new_replicas)
    }

    fn change_per_period(period: i128, events: &[Event], now: i128) -> i64 {
        let cutoff = now - period;
        events
            .iter()
            .filter(|e| e.at > cutoff)
            .map(|e| e.change)
            .sum()
    }

    fn limit(&self, rules: &ScalingRules, current: i64, now: i128, up: bool) -> i64 {
        if rules.select == SelectPolicy::Disabled {
            return current;
        }
        let wants_max = (rules.select == SelectPolicy::Max) == up;
        let mut result = if wants_max { i64::MIN } else { i64::MAX };
        for policy in rules.policies() {
            let period = nanos(policy.period);
            let added = Self::change_per_period(period, &self.up_events, now);
            let deleted = Self::change_per_period(period, &self.down_events, now);
            let start = current - added + deleted;
            let v = f64::from(policy.value);
            let proposed = match (policy.kind, up) {
                (PolicyKind::Pods, true) => start + i64::from(policy.value),
                (PolicyKind::Pods, false) => start - i64::from(policy.value),
                (PolicyKind::Percent, true) => (start as f64 * (1.0 + v / 100.0)).ceil() as i64,
                (PolicyKind::Percent, false) => (start as f64 * (1.0 - v / 100.0)) as i64,
            };
            result = if wants_max {
                result.max(proposed)
            } else {
                result.min(proposed)
            };
        }
        result
    }

    fn store(&mut self, now: i128, previous: i64, new: i64) {
        let (events, rules, change) = if new > previous {
            (&mut self.up_events, &self.up, new - previous)
        } else {
            (&mut self.down_events, &self.down, previous - new)
        };
        let longest = rules.policies().map(|p| nanos(p.period)).max().unwrap_or(0);
        for event in events.iter_mut() {
            if event.at < now - longest {
                event.outdated = true;
            }
        }
        let event = Event {
            change,
            at: now,
            outdated: false,
        };
        match events.iter().rposition(|e| e.outdated) {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }

    /// One `reconcileAutoscaler`: the desired count and the metric's
    /// recommendation, if one was computed.
    pub fn reconcile(
        &mut self,
        now: u64,
        current: u32,
        pods: Option<&[Pod]>,
    ) -> (i64, Option<i64>) {
        let now = i128::from(now);
        let current = i64::from(current);
        if self.recommendations.is_empty() {
            self.recommendations.push((current, now));
        }
        let mut recommendation = None;
        let desired = if current == 0 {
            return (0, None);
        } else if current > self.max {
            self.max
        } else if current < self.min {
            self.min
        } else {
            let Some(proposed) = pods.and_then(|pods| self.replicas(current, pods)) else {
                return (current, None);
            };
            recommendation = Some(proposed);
            // stabilizeRecommendationWithBehaviors
            let up_cutoff = now - nanos(self.up.stabilization_window);
            let down_cutoff = now - nanos(self.down.stabilization_window);
            let (mut up_rec, mut down_rec) = (proposed, proposed);
            let mut old = None;
            for (i, &(rec, at)) in self.recommendations.iter().enumerate() {
                if at > up_cutoff {
                    up_rec = up_rec.min(rec);
                }
                if at > down_cutoff {
                    down_rec = down_rec.max(rec);
                }
                if at < up_cutoff && at < down_cutoff {
                    old = Some(i);
                }
            }
            let mut stabilized = current;
            if stabilized < up_rec {
                stabilized = up_rec;
            }
            if stabilized > down_rec {
                stabilized = down_rec;
            }
            match old {
                Some(i) => self.recommendations[i] = (proposed, now),
                None => self.recommendations.push((proposed, now)),
            }
            // convertDesiredReplicasWithBehaviorRate
            if stabilized > current {
                let limit = self.limit(&self.up, current, now, true).max(current);
                stabilized.min(self.max.min(limit))
            } else if stabilized < current {
                let limit = self.limit(&self.down, current, now, false).min(current);
                stabilized.max(self.min.max(limit))
            } else {
                stabilized
            }
        };
        if desired != current {
            self.store(now, current, desired);
        }
        (desired, recommendation)
    }
}
