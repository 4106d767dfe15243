//! Counting KPI answers on the index: a collector that reads the matching documents' columns
//! (scores, sentiment, date, the grouping's values) and tallies them per group and period,
//! without loading a stored verbatim. Each segment maps its own term ordinals to groups once,
//! so a document costs a few column reads and table lookups.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::domain::Period;
use crate::domain::SentimentLabel;
use crate::kpi::{Cells, GroupBy, Tally};

/// What a [`KpiCollector`] counts by.
pub struct KpiCollector {
    pub group_by: Option<GroupBy>,
    pub period: Option<(Period, Tz)>,
}

/// A segment's group: its index in the segment's list of names, or none.
const NO_GROUP: u32 = u32::MAX;

pub struct KpiSegmentCollector {
    period: Option<(Period, Tz)>,
    scores: [Column<u64>; 3],
    created_at: Column<tantivy::DateTime>,
    /// Sentiment per term ordinal of the sentiment column.
    sentiments: Option<(StrColumn, Vec<Option<SentimentLabel>>)>,
    /// The grouping's column (`None` if a segment lacks it: then no document has a value),
    /// the group of each of its term ordinals, and the groups' names.
    groups: Option<(Option<StrColumn>, Vec<u32>, Vec<String>)>,
    /// The day of the last document and its period, since neighbours often share a day.
    last_day: Option<(i64, NaiveDate)>,
    cells: HashMap<(u32, Option<NaiveDate>), Tally>,
    total: HashMap<Option<NaiveDate>, Tally>,
}

fn terms(column: &StrColumn) -> tantivy::Result<Vec<String>> {
    let mut names = Vec::with_capacity(column.num_terms());
    let mut name = String::new();
    for ord in 0..column.num_terms() as u64 {
        column.ord_to_str(ord, &mut name)?;
        names.push(name.clone());
    }
    Ok(names)
}

impl Collector for KpiCollector {
    type Fruit = Cells;
    type Child = KpiSegmentCollector;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<KpiSegmentCollector> {
        let fast = segment.fast_fields();
        let sentiments = match fast.str("sentiment")? {
            Some(column) => {
                let labels = terms(&column)?.iter().map(|name| SentimentLabel::parse(name)).collect();
                Some((column, labels))
            }
            None => None,
        };
        let groups = match &self.group_by {
            Some(group_by) => match fast.str(group_by.index_field())? {
                Some(column) => {
                    let mut names = Vec::new();
                    let ords = terms(&column)?
                        .into_iter()
                        .map(|value| match group_by.group_of(&value) {
                            Some(name) => {
                                names.push(name.to_string());
                                names.len() as u32 - 1
                            }
                            None => NO_GROUP,
                        })
                        .collect();
                    Some((Some(column), ords, names))
                }
                None => Some((None, Vec::new(), Vec::new())),
            },
            None => None,
        };
        Ok(KpiSegmentCollector {
            period: self.period,
            scores: [fast.u64("nps")?, fast.u64("csat")?, fast.u64("ces")?],
            created_at: fast.date("created_at")?,
            sentiments,
            groups,
            last_day: None,
            cells: HashMap::new(),
            total: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Cells>) -> tantivy::Result<Cells> {
        let mut merged = Cells::default();
        fruits.into_iter().for_each(|fruit| merged.merge(fruit));
        Ok(merged)
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl KpiSegmentCollector {
    fn period_of(&mut self, doc: DocId) -> Option<NaiveDate> {
        let (period, tz) = self.period?;
        let micros = self.created_at.first(doc).map_or(0, |at| at.into_timestamp_micros());
        // A UTC day is one period key for UTC; other zones convert each instant.
        if tz == Tz::UTC {
            let day = micros.div_euclid(MICROS_PER_DAY);
            if let Some((_, start)) = self.last_day.filter(|(last, _)| *last == day) {
                return Some(start);
            }
            let start = period.of(DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default(), tz);
            self.last_day = Some((day, start));
            return Some(start);
        }
        Some(period.of(DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default(), tz))
    }
}

impl SegmentCollector for KpiSegmentCollector {
    type Fruit = Cells;

    fn collect(&mut self, doc: DocId, _: Score) {
        let period = self.period_of(doc);
        let [nps, csat, ces] = &self.scores;
        let sentiment =
            self.sentiments.as_ref().and_then(|(column, labels)| labels[column.term_ords(doc).next()? as usize]);
        let mut tally = Tally::default();
        tally.count(nps.first(doc), csat.first(doc), ces.first(doc), sentiment);
        if let Some((column, ords, _)) = &self.groups {
            let mut counted: Vec<u32> = Vec::new();
            for ord in column.iter().flat_map(|column| column.term_ords(doc)) {
                let group = ords[ord as usize];
                if group != NO_GROUP && !counted.contains(&group) {
                    self.cells.entry((group, period)).or_default().add(&tally);
                    counted.push(group);
                }
            }
            if counted.is_empty() {
                self.cells.entry((NO_GROUP, period)).or_default().add(&tally);
            }
        }
        self.total.entry(period).or_default().add(&tally);
    }

    fn harvest(self) -> Cells {
        let names = self.groups.map(|(_, _, names)| names).unwrap_or_default();
        let groups = self
            .cells
            .into_iter()
            .map(|((group, period), tally)| ((names.get(group as usize).cloned(), period), tally))
            .collect();
        Cells { groups, total: self.total }
    }
}
