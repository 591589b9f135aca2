//! Which consumer of a group reads which partitions of a topic: Kafka's range
//! assignor (`org.apache.kafka.clients.consumer.RangeAssignor`), the consumer's
//! default. The members are sorted by id; with `P` partitions and `C` members,
//! each member takes `P / C` consecutive partitions and the first `P % C` one more,
//! so member `i` starts at `i × (P / C) + min(i, P % C)`. At most one consumer of a
//! group reads a partition at a time; a member beyond the partitions gets none.
//!
//! A rebalance is a new assignment over the members now in the group: the
//! simulation pauses consumption for the rebalance's duration and then resumes each
//! partition from its last committed offset, which is where redeliveries come from.

/// The partitions of `partitions` that member `member` (0-based, in member-id
/// order) of a group of `members` reads, as a half-open range; empty when it
/// has none (or the group is empty).
///
/// ```
/// use meshsim_patterns::messaging::range_assignment;
///
/// // Kafka's documented example: 3 partitions, 2 consumers.
/// assert_eq!(range_assignment(3, 2, 0), 0..2);
/// assert_eq!(range_assignment(3, 2, 1), 2..3);
/// ```
pub fn range_assignment(partitions: u32, members: u32, member: u32) -> std::ops::Range<u32> {
    if members == 0 || member >= members {
        return 0..0;
    }
    let each = partitions / members;
    let extra = partitions % members;
    let start = member * each + member.min(extra);
    let len = each + u32::from(member < extra);
    start..start + len
}

/// The member (0-based, in member-id order) of a group of `members` that reads
/// `partition` under [`range_assignment`]; none when the group is empty or the
/// partition is not the topic's.
pub fn owner(partitions: u32, members: u32, partition: u32) -> Option<u32> {
    if members == 0 || partition >= partitions {
        return None;
    }
    let each = partitions / members;
    let extra = partitions % members;
    // The first `extra` members hold `each + 1` partitions each.
    let wide = extra * (each + 1);
    if partition < wide {
        Some(partition / (each + 1))
    } else {
        Some(extra + (partition - wide) / each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_examples() {
        // RangeAssignor's javadoc: two consumers C0 and C1, two topics of three
        // partitions each: C0 gets p0 and p1 of each, C1 gets p2.
        assert_eq!(range_assignment(3, 2, 0), 0..2);
        assert_eq!(range_assignment(3, 2, 1), 2..3);
        // More members than partitions: the last ones get nothing.
        assert_eq!(range_assignment(2, 3, 2), 2..2);
        assert!(range_assignment(2, 3, 2).is_empty());
        assert_eq!(range_assignment(5, 0, 0), 0..0);
        assert_eq!(owner(5, 0, 0), None);
        assert_eq!(owner(5, 2, 5), None);
    }

    #[test]
    fn every_partition_has_exactly_one_owner_and_the_ranges_agree() {
        for partitions in 0..40u32 {
            for members in 1..12u32 {
                let mut next = 0;
                for member in 0..members {
                    let range = range_assignment(partitions, members, member);
                    assert_eq!(range.start, next, "{partitions}/{members}/{member}");
                    // Balanced: sizes differ by at most one, larger first.
                    let len = range.len() as u32;
                    assert!(len == partitions / members || len == partitions / members + 1);
                    for p in range.clone() {
                        assert_eq!(owner(partitions, members, p), Some(member));
                    }
                    next = range.end;
                }
                assert_eq!(next, partitions);
            }
        }
    }
}
