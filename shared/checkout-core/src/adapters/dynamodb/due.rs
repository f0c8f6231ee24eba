//! The sharded `byDue` index: which partition-key value (`dueBucket`) an order is written under,
//! and reading one page of due orders across every shard.
//!
//! Every due order sits in one of `N` buckets, `due` (shard 0, the only one before sharding, so
//! items written then stay readable) and `due#1` … `due#N-1`, chosen by a stable hash of the
//! CallerReference. A page queries every shard that has more concurrently, merges the answers
//! oldest due first, and hands out at most `page_size` orders; the cursor keeps each shard's own
//! position, so every due order is handed out exactly once per pass. Raising `N` is safe (old
//! buckets are still read); lowering it would strand orders in the buckets dropped, so the
//! configuration only accepts what the sweep can read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::cursor::{self, ShardPosition};
use super::item::attr;
use crate::ports::store::StoreError;

/// The bucket of shard 0 (and of every due order written before sharding).
pub const FIRST_BUCKET: &str = "due";

/// How many partition-key values the `byDue` index is spread over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueShards(u16);

impl DueShards {
    /// Each shard is one Query per sweep page: 100 is far past any shop's need (docs/scaling.md).
    pub const MAX: u16 = 100;
    pub const ONE: DueShards = DueShards(1);

    /// `None` outside 1..=[`Self::MAX`].
    pub const fn new(count: u16) -> Option<Self> {
        if count >= 1 && count <= Self::MAX {
            Some(Self(count))
        } else {
            None
        }
    }

    pub fn count(self) -> u16 {
        self.0
    }

    /// The bucket of shard `index`.
    pub fn bucket(index: u16) -> String {
        if index == 0 {
            FIRST_BUCKET.to_owned()
        } else {
            format!("{FIRST_BUCKET}#{index}")
        }
    }

    /// The bucket an order is written under: the same for every write of the order.
    pub fn bucket_for(self, caller_reference: &str) -> String {
        Self::bucket(self.shard_of(caller_reference))
    }

    /// FNV-1a over the CallerReference: stable across builds and platforms (std's hasher is not).
    fn shard_of(self, caller_reference: &str) -> u16 {
        let hash = caller_reference
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        u16::try_from(hash % u64::from(self.0)).unwrap_or(0)
    }
}

impl Default for DueShards {
    fn default() -> Self {
        Self::ONE
    }
}

/// One shard's answer to a page's Query.
pub struct ShardAnswer {
    /// Up to the shard's share of the page, oldest due first.
    pub items: Vec<HashMap<String, AttributeValue>>,
    /// The shard has due orders past `items`.
    pub more: bool,
}

/// What a page hands out and where each shard resumes.
pub struct MergedPage {
    pub items: Vec<HashMap<String, AttributeValue>>,
    pub next: Vec<ShardPosition>,
}

/// Each active shard's share of a page: at least one, so every shard moves.
pub fn share(page_size: u32, active: usize) -> u32 {
    let active = u32::try_from(active.max(1)).unwrap_or(u32::MAX);
    page_size.div_ceil(active).max(1)
}

/// Merges the shards' answers oldest due first (ties by shard, then by the shard's order),
/// keeps at most `page_size`, and works out where each shard resumes: after its last item
/// handed out, where it was if none was, or done once it has nothing left.
pub fn merge(
    positions: &[ShardPosition],
    answers: Vec<Option<ShardAnswer>>,
    page_size: u32,
) -> Result<MergedPage, StoreError> {
    let mut candidates: Vec<(String, usize, usize)> = Vec::new();
    for (shard, answer) in answers.iter().enumerate() {
        let Some(answer) = answer else { continue };
        for (index, item) in answer.items.iter().enumerate() {
            let due = match item.get(attr::DUE_AT) {
                Some(AttributeValue::S(due)) => due.clone(),
                _ => String::new(),
            };
            candidates.push((due, shard, index));
        }
    }
    candidates.sort();
    candidates.truncate(usize::try_from(page_size.max(1)).unwrap_or(usize::MAX));

    let mut handed_out = vec![0_usize; answers.len()];
    for (_, shard, index) in &candidates {
        handed_out[*shard] = handed_out[*shard].max(index + 1);
    }
    let mut next = Vec::with_capacity(answers.len());
    for (shard, answer) in answers.iter().enumerate() {
        let position = match answer {
            None => positions.get(shard).cloned().unwrap_or(ShardPosition::Done),
            Some(answer) => {
                let count = handed_out[shard];
                let left = answer.more || count < answer.items.len();
                match (left, count) {
                    (false, _) => ShardPosition::Done,
                    (true, 0) => positions
                        .get(shard)
                        .cloned()
                        .unwrap_or(ShardPosition::Start),
                    (true, count) => {
                        ShardPosition::After(cursor::index_key(&answer.items[count - 1])?)
                    }
                }
            }
        };
        next.push(position);
    }
    // Items in shard order within a due time: taking them out of `answers` by index.
    let mut answers: Vec<Vec<Option<HashMap<String, AttributeValue>>>> = answers
        .into_iter()
        .map(|a| {
            a.map(|a| a.items.into_iter().map(Some).collect())
                .unwrap_or_default()
        })
        .collect();
    let items = candidates
        .into_iter()
        .filter_map(|(_, shard, index)| answers[shard][index].take())
        .collect();
    Ok(MergedPage { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, shard: u16, due: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                attr::CALLER_REFERENCE.to_owned(),
                AttributeValue::S(id.into()),
            ),
            (
                attr::DUE_BUCKET.to_owned(),
                AttributeValue::S(DueShards::bucket(shard)),
            ),
            (attr::DUE_AT.to_owned(), AttributeValue::S(due.into())),
        ])
    }

    fn id(item: &HashMap<String, AttributeValue>) -> &str {
        match item.get(attr::CALLER_REFERENCE) {
            Some(AttributeValue::S(id)) => id,
            _ => "",
        }
    }

    #[test]
    fn shard_zero_keeps_the_unsharded_bucket_and_counts_are_bounded() {
        assert_eq!(DueShards::bucket(0), "due");
        assert_eq!(DueShards::bucket(7), "due#7");
        assert_eq!(DueShards::ONE.bucket_for("any-order"), "due");
        assert!(DueShards::new(0).is_none());
        assert!(DueShards::new(DueShards::MAX + 1).is_none());
        assert_eq!(DueShards::new(8).map(DueShards::count), Some(8));
    }

    /// Orders spread over every shard, about evenly, and always to the same one.
    #[test]
    fn orders_spread_evenly_and_stay_in_their_shard() {
        let shards = DueShards::new(8).expect("8");
        let mut counts = HashMap::new();
        for i in 0..8000 {
            let order = format!("{:032x}", u128::from(i as u32) * 0x9e37_79b9_7f4a_7c15);
            let bucket = shards.bucket_for(&order);
            assert_eq!(bucket, shards.bucket_for(&order));
            *counts.entry(bucket).or_insert(0_u32) += 1;
        }
        assert_eq!(counts.len(), 8, "{counts:?}");
        assert!(
            counts.values().all(|&n| (800..=1200).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_page_takes_the_oldest_across_shards_and_each_shard_resumes_after_its_last_item() {
        let positions = vec![ShardPosition::Start; 3];
        let answers = vec![
            Some(ShardAnswer {
                items: vec![item("a1", 0, "1"), item("a2", 0, "4")],
                more: true,
            }),
            Some(ShardAnswer {
                items: vec![item("b1", 1, "2"), item("b2", 1, "3")],
                more: false,
            }),
            Some(ShardAnswer {
                items: vec![],
                more: false,
            }),
        ];
        let page = merge(&positions, answers, 3).expect("merge");
        let ids: Vec<&str> = page.items.iter().map(id).collect();
        assert_eq!(ids, ["a1", "b1", "b2"]);
        // Shard 0 handed out a1 (a2 waits); shard 1 is finished; shard 2 had nothing.
        assert!(matches!(&page.next[0], ShardPosition::After(key) if id(key) == "a1"));
        assert_eq!(page.next[1], ShardPosition::Done);
        assert_eq!(page.next[2], ShardPosition::Done);
    }

    #[test]
    fn a_shard_with_nothing_handed_out_stays_where_it_was() {
        let positions = vec![ShardPosition::Start, ShardPosition::Start];
        let answers = vec![
            Some(ShardAnswer {
                items: vec![item("a1", 0, "1")],
                more: true,
            }),
            Some(ShardAnswer {
                items: vec![item("b1", 1, "9")],
                more: false,
            }),
        ];
        let page = merge(&positions, answers, 1).expect("merge");
        assert_eq!(page.items.iter().map(id).collect::<Vec<_>>(), ["a1"]);
        assert_eq!(page.next[1], ShardPosition::Start);
    }

    #[test]
    fn every_shard_gets_a_share_of_at_least_one() {
        assert_eq!(share(25, 4), 7);
        assert_eq!(share(2, 8), 1);
        assert_eq!(share(0, 0), 1);
    }
}
