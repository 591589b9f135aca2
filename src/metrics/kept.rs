//! Rows kept for charts, per window, at most a budget of them: past it,
//! neighbours merge in pairs and each row spans twice the windows, so a
//! chart of any run length is drawn from bounded memory. Shared by the
//! per-entity series that are not `WindowRow`s (autoscalers, sagas).

use crate::kernel::SimTime;

/// How two neighbouring rows become one: counts add, gauges take the
/// later row's value.
pub trait Merge: Copy {
    /// `self` followed by `later`, as one row.
    #[must_use]
    fn merged_with(self, later: Self) -> Self;
}

/// Keeps `row` of the window `[start, end)` in `rows`, at most `budget` of
/// them: past it, neighbours are merged in pairs and `merged` (windows per
/// row) doubles. A row is appended as one window until the next merge, and
/// later windows accumulate into the last row until it spans `merged`.
pub fn keep_row<R: Merge>(
    rows: &mut Vec<(SimTime, SimTime, R)>,
    merged: &mut u32,
    pending: &mut u32,
    (start, end): (SimTime, SimTime),
    row: R,
    budget: usize,
) {
    if *pending > 0
        && let Some(last) = rows.last_mut()
    {
        *last = (last.0, end, last.2.merged_with(row));
        *pending += 1;
        if *pending >= *merged {
            *pending = 0;
        }
        return;
    }
    rows.push((start, end, row));
    *pending = if *merged > 1 { 1 } else { 0 };
    if rows.len() >= budget {
        let halved: Vec<_> = rows
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => (a.0, b.1, a.2.merged_with(b.2)),
                [a] => *a,
                _ => unreachable!("chunks of at most two"),
            })
            .collect();
        *rows = halved;
        *merged = merged.saturating_mul(2);
        *pending = 0;
    }
}
