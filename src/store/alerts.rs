//! Alert rules, fired alerts (the durable outbox of their webhook deliveries) and follow-ups.
//! Alerts fire in the same transaction as the evaluator's checkpoint, so a verbatim fires a
//! rule once whatever the crashes; a delivery is marked only after the receiver answered, so
//! a crash in between repeats it with the same idempotency key, never loses it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use r2d2_sqlite::rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Result, Store, StoreError, StoreWriter};
use crate::domain::{
    parse_timestamp, rfc3339, Alert, AlertRule, DeliveryState, FollowUp, FollowUpPolicy, FollowUpStatus, VolumeFinding,
    VolumeRule, Webhook,
};

/// What a rule stores besides its name and secret.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRule {
    filter: BTreeMap<String, String>,
    webhook_url: Option<String>,
    follow_up: Option<FollowUpPolicy>,
    #[serde(default)]
    volume: Option<VolumeRule>,
}

/// A rule as written by the API: everything but the id and dates.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDraft {
    pub name: String,
    pub filter: BTreeMap<String, String>,
    pub webhook: Option<Webhook>,
    pub follow_up: Option<FollowUpPolicy>,
    pub volume: Option<VolumeRule>,
    pub enabled: bool,
}

/// An alert just fired, to store with its payload (see [`StoreWriter::fire`]).
pub struct Firing<'a> {
    pub rule: &'a AlertRule,
    pub verbatim_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub fired_at: DateTime<Utc>,
    /// Builds the webhook body from the alert's id and follow-up id, once they are known.
    pub payload: &'a dyn Fn(i64, Option<(i64, DateTime<Utc>)>) -> String,
}

/// A volume rule's alert just fired, about a period (see [`StoreWriter::fire_volume`]).
pub struct VolumeFiring<'a> {
    pub rule: &'a AlertRule,
    pub finding: &'a VolumeFinding,
    pub fired_at: DateTime<Utc>,
    /// Builds the webhook body from the alert's id, once it is known.
    pub payload: &'a dyn Fn(i64) -> String,
}

/// A delivery to attempt.
pub struct Outgoing {
    pub alert_id: i64,
    pub attempts: u32,
    pub payload: String,
    pub webhook: Webhook,
}

/// Filters of the follow-up list.
#[derive(Debug, Clone, Default)]
pub struct FollowUpQuery {
    pub statuses: Vec<FollowUpStatus>,
    pub owner: Option<String>,
    pub rule_id: Option<i64>,
    /// Only those not reached and past due (`Some(true)`), or only the others.
    pub overdue: Option<bool>,
    pub limit: usize,
}

fn time(raw: &str, what: &str) -> Result<DateTime<Utc>> {
    parse_timestamp(raw).ok_or_else(|| StoreError::Corrupt { id: what.to_string(), reason: format!("time `{raw}`") })
}

fn optional_time(raw: Option<String>, what: &str) -> Result<Option<DateTime<Utc>>> {
    raw.map(|raw| time(&raw, what)).transpose()
}

const RULE_COLUMNS: &str = "id, name, rule, secret, enabled, since_seq, created_at, updated_at";

type RawRule = (i64, String, String, Option<String>, bool, i64, String, String);

fn raw_rule(row: &Row<'_>) -> r2d2_sqlite::rusqlite::Result<RawRule> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
}

fn rule((id, name, rule, secret, enabled, since_seq, created_at, updated_at): RawRule) -> Result<AlertRule> {
    let what = format!("alert rule {id}");
    let stored: StoredRule =
        serde_json::from_str(&rule).map_err(|e| StoreError::Corrupt { id: what.clone(), reason: e.to_string() })?;
    Ok(AlertRule {
        id,
        name,
        filter: stored.filter,
        webhook: stored.webhook_url.map(|url| Webhook { url, secret: secret.unwrap_or_default() }),
        follow_up: stored.follow_up,
        volume: stored.volume,
        enabled,
        since_seq: since_seq as u64,
        created_at: time(&created_at, &what)?,
        updated_at: time(&updated_at, &what)?,
    })
}

const ALERT_COLUMNS: &str = "a.id, a.rule_id, a.verbatim_id, a.fired_at, a.state, a.attempts, a.next_attempt_at,
    a.last_error, a.delivered_at, f.id, a.volume";

fn alert(row: &Row<'_>) -> Result<Alert> {
    let id: i64 = row.get(0)?;
    let what = format!("alert {id}");
    let state: String = row.get(4)?;
    Ok(Alert {
        id,
        rule_id: row.get(1)?,
        verbatim_id: row.get(2)?,
        fired_at: time(&row.get::<_, String>(3)?, &what)?,
        idempotency_key: Alert::idempotency_key(id),
        delivery: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt { id: what.clone(), reason: format!("state `{state}`") })?,
        attempts: row.get::<_, i64>(5)? as u32,
        next_attempt_at: optional_time(row.get(6)?, &what)?,
        last_error: row.get(7)?,
        delivered_at: optional_time(row.get(8)?, &what)?,
        follow_up_id: row.get(9)?,
        volume: row
            .get::<_, Option<String>>(10)?
            .map(|raw| serde_json::from_str(&raw))
            .transpose()
            .map_err(|e| StoreError::Corrupt { id: what.clone(), reason: format!("volume: {e}") })?,
    })
}

const FOLLOW_UP_COLUMNS: &str =
    "id, alert_id, rule_id, verbatim_id, customer_id, status, owner, note, due_at, contacted_at, created_at, updated_at";

fn follow_up(row: &Row<'_>) -> Result<FollowUp> {
    let id: i64 = row.get(0)?;
    let what = format!("follow-up {id}");
    let status: String = row.get(5)?;
    Ok(FollowUp {
        id,
        alert_id: row.get(1)?,
        rule_id: row.get(2)?,
        verbatim_id: row.get(3)?,
        customer_id: row.get(4)?,
        status: FollowUpStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt { id: what.clone(), reason: format!("status `{status}`") })?,
        owner: row.get(6)?,
        note: row.get(7)?,
        due_at: time(&row.get::<_, String>(8)?, &what)?,
        contacted_at: optional_time(row.get(9)?, &what)?,
        created_at: time(&row.get::<_, String>(10)?, &what)?,
        updated_at: time(&row.get::<_, String>(11)?, &what)?,
    })
}

/// Whether `rule_id` already fired on the period of `finding`.
fn volume_alert_exists(conn: &Connection, rule_id: i64, finding: &VolumeFinding) -> Result<bool> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT id FROM alerts WHERE rule_id = ?1 AND period = ?2 AND period_start = ?3",
            params![rule_id, finding.period.as_str(), rfc3339::format(&finding.period_start)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// A new alert's delivery: due now when its rule has a webhook.
fn first_delivery(rule: &AlertRule, now: DateTime<Utc>) -> (DeliveryState, Option<String>) {
    match rule.webhook {
        Some(_) => (DeliveryState::Pending, Some(rfc3339::format(&now))),
        None => (DeliveryState::None, None),
    }
}

fn stored_rule(draft: &RuleDraft) -> String {
    serde_json::to_string(&StoredRule {
        filter: draft.filter.clone(),
        webhook_url: draft.webhook.as_ref().map(|w| w.url.clone()),
        follow_up: draft.follow_up.clone(),
        volume: draft.volume.clone(),
    })
    .expect("a rule serialises")
}

impl Store {
    pub fn alert_rules(&self) -> Result<Vec<AlertRule>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"))?;
        let rows = stmt.query_map([], raw_rule)?;
        rows.map(|row| rule(row?)).collect()
    }

    pub fn alert_rule(&self, id: i64) -> Result<Option<AlertRule>> {
        let conn = self.pool.get()?;
        let row = conn
            .query_row(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1"), [id], raw_rule)
            .optional()?;
        row.map(rule).transpose()
    }

    /// Saves a new rule, evaluated on the verbatims written from now on.
    pub fn create_alert_rule(&self, draft: &RuleDraft) -> Result<AlertRule> {
        let now = rfc3339::format(&Utc::now());
        let conn = self.pool.get()?;
        conn.execute(
            "INSERT INTO alert_rules (name, rule, secret, enabled, since_seq, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, (SELECT value FROM counters WHERE name = 'seq'), ?5, ?5)",
            params![draft.name, stored_rule(draft), draft.webhook.as_ref().map(|w| &w.secret), draft.enabled, now],
        )
        .map_err(StoreError::classify)?;
        let id = conn.last_insert_rowid();
        drop(conn);
        self.alert_rule(id)?
            .ok_or_else(|| StoreError::Corrupt { id: format!("alert rule {id}"), reason: "gone".into() })
    }

    /// Replaces a rule's settings (its history stays); a webhook given without a secret keeps
    /// the stored one. Returns the rule, or `None` when there is none.
    pub fn update_alert_rule(&self, id: i64, draft: &RuleDraft) -> Result<Option<AlertRule>> {
        let conn = self.pool.get()?;
        let secret = draft.webhook.as_ref().map(|w| w.secret.as_str()).filter(|s| !s.is_empty());
        let mut conn = conn;
        let tx = conn.transaction()?;
        // Enabled again, it starts from now: what was sent while it was off does not fire.
        let changed = tx
            .execute(
                "UPDATE alert_rules SET name = ?2, rule = ?3,
                   secret = CASE WHEN ?7 THEN COALESCE(?4, secret) END,
                   since_seq = CASE WHEN enabled = 0 AND ?5 THEN (SELECT value FROM counters WHERE name = 'seq')
                     ELSE since_seq END,
                   enabled = ?5, updated_at = ?6 WHERE id = ?1",
                params![
                    id,
                    draft.name,
                    stored_rule(draft),
                    secret,
                    draft.enabled,
                    rfc3339::format(&Utc::now()),
                    draft.webhook.is_some()
                ],
            )
            .map_err(StoreError::classify)?;
        if draft.webhook.is_none() {
            tx.execute(
                "UPDATE alerts SET state = 'failed', next_attempt_at = NULL, last_error = 'webhook removed'
                 WHERE rule_id = ?1 AND state = 'pending'",
                [id],
            )
            .map_err(StoreError::classify)?;
        }
        tx.commit().map_err(StoreError::classify)?;
        if changed == 0 {
            return Ok(None);
        }
        self.alert_rule(id)
    }

    /// Deletes a rule; its alerts stay listed, those not yet delivered fail ("rule deleted").
    pub fn delete_alert_rule(&self, id: i64) -> Result<bool> {
        let mut conn = self.pool.get()?;
        let tx = conn.transaction()?;
        let deleted = tx.execute("DELETE FROM alert_rules WHERE id = ?1", [id]).map_err(StoreError::classify)?;
        tx.execute(
            "UPDATE alerts SET state = 'failed', next_attempt_at = NULL, last_error = 'rule deleted'
             WHERE rule_id = ?1 AND state = 'pending'",
            [id],
        )
        .map_err(StoreError::classify)?;
        tx.commit().map_err(StoreError::classify)?;
        Ok(deleted > 0)
    }

    /// Whether `rule_id` already fired on the period of `finding` (so that a schedule checks
    /// without opening a write transaction; firing checks again inside its own).
    pub fn volume_alert_fired(&self, rule_id: i64, finding: &VolumeFinding) -> Result<bool> {
        volume_alert_exists(&*self.pool.get()?, rule_id, finding)
    }

    /// The date of the oldest verbatim stored, if any.
    pub fn first_created_at(&self) -> Result<Option<DateTime<Utc>>> {
        let conn = self.pool.get()?;
        let first: Option<String> = conn.query_row("SELECT MIN(created_at) FROM verbatims", [], |r| r.get(0))?;
        first.map(|raw| time(&raw, "the oldest verbatim")).transpose()
    }

    /// Fired alerts, newest first, optionally of one delivery state or rule.
    pub fn alerts(&self, state: Option<DeliveryState>, rule_id: Option<i64>, limit: usize) -> Result<Vec<Alert>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN follow_ups f ON f.alert_id = a.id
             WHERE (?1 IS NULL OR a.state = ?1) AND (?2 IS NULL OR a.rule_id = ?2) ORDER BY a.id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_and_then(params![state.map(DeliveryState::as_str), rule_id, limit as i64], alert)?;
        rows.collect()
    }

    /// The deliveries due at `now`, oldest first, with their rule's webhook.
    pub fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(
            "SELECT a.id, a.attempts, a.payload, r.rule, r.secret FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
             WHERE a.state = 'pending' AND a.next_attempt_at <= ?1
               AND json_extract(r.rule, '$.webhook_url') IS NOT NULL
             ORDER BY a.next_attempt_at, a.id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![rfc3339::format(&now), limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get(4)?))
        })?;
        let mut due = Vec::new();
        for row in rows {
            let (alert_id, attempts, payload, rule, secret): (i64, i64, String, String, Option<String>) = row?;
            let stored: StoredRule = serde_json::from_str(&rule)
                .map_err(|e| StoreError::Corrupt { id: format!("alert {alert_id}"), reason: e.to_string() })?;
            if let Some(url) = stored.webhook_url {
                let webhook = Webhook { url, secret: secret.unwrap_or_default() };
                due.push(Outgoing { alert_id, attempts: attempts as u32, payload, webhook });
            }
        }
        Ok(due)
    }

    /// Records an attempt: delivered, retried at `retry_at`, or failed for good (`retry_at`
    /// `None` after an error). An alert erased meanwhile is simply not there, and one whose
    /// rule was deleted during the attempt stays failed.
    pub fn record_attempt(&self, alert_id: i64, error: Option<&str>, retry_at: Option<DateTime<Utc>>) -> Result<()> {
        let conn = self.pool.get()?;
        let now = rfc3339::format(&Utc::now());
        let (state, delivered_at) = match (error, retry_at) {
            (None, _) => (DeliveryState::Delivered, Some(now)),
            (Some(_), Some(_)) => (DeliveryState::Pending, None),
            (Some(_), None) => (DeliveryState::Failed, None),
        };
        conn.execute(
            "UPDATE alerts SET state = ?2, attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4,
               delivered_at = ?5 WHERE id = ?1 AND state = 'pending'",
            params![alert_id, state.as_str(), retry_at.as_ref().map(rfc3339::format), error, delivered_at],
        )
        .map_err(StoreError::classify)?;
        Ok(())
    }

    pub fn follow_ups(&self, query: &FollowUpQuery, now: DateTime<Utc>) -> Result<Vec<FollowUp>> {
        let conn = self.pool.get()?;
        let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups
             WHERE (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR rule_id = ?2)
             ORDER BY due_at, id"
        ))?;
        let mut rows = stmt.query(params![query.owner, query.rule_id])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            let item = follow_up(row)?;
            let wanted = (statuses.is_empty() || statuses.contains(&item.status.as_str()))
                && query.overdue.is_none_or(|overdue| item.overdue(now) == overdue);
            if wanted {
                found.push(item);
                if found.len() == query.limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    pub fn follow_up(&self, id: i64) -> Result<Option<FollowUp>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!("SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE id = ?1"))?;
        let found = stmt.query_and_then([id], follow_up)?.next().transpose();
        found
    }

    /// Changes a follow-up's status, owner or note (`None`: unchanged; `Some(None)`: cleared).
    /// Reaching `contacted` or `resolved` the first time records when.
    pub fn update_follow_up(
        &self,
        id: i64,
        status: Option<FollowUpStatus>,
        owner: Option<Option<&str>>,
        note: Option<Option<&str>>,
    ) -> Result<Option<FollowUp>> {
        let conn = self.pool.get()?;
        let now = rfc3339::format(&Utc::now());
        let reached = status.is_some_and(FollowUpStatus::reached);
        let changed = conn
            .execute(
                "UPDATE follow_ups SET status = COALESCE(?2, status),
                   owner = CASE WHEN ?3 THEN ?4 ELSE owner END, note = CASE WHEN ?5 THEN ?6 ELSE note END,
                   contacted_at = CASE WHEN ?7 AND contacted_at IS NULL THEN ?8 ELSE contacted_at END,
                   updated_at = ?8 WHERE id = ?1",
                params![
                    id,
                    status.map(FollowUpStatus::as_str),
                    owner.is_some(),
                    owner.flatten(),
                    note.is_some(),
                    note.flatten(),
                    reached,
                    now
                ],
            )
            .map_err(StoreError::classify)?;
        drop(conn);
        if changed == 0 {
            return Ok(None);
        }
        self.follow_up(id)
    }

    /// A customer's alerts and follow-ups (their data export).
    pub fn alerts_of_customer(&self, customer_id: &str) -> Result<(Vec<Alert>, Vec<FollowUp>)> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN follow_ups f ON f.alert_id = a.id
             WHERE a.customer_id = ?1 OR a.verbatim_id IN (SELECT id FROM verbatims WHERE customer_id = ?1)
             ORDER BY a.id"
        ))?;
        let alerts = stmt.query_and_then([customer_id], alert)?.collect::<Result<Vec<_>>>()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups
             WHERE customer_id = ?1 OR verbatim_id IN (SELECT id FROM verbatims WHERE customer_id = ?1) ORDER BY id"
        ))?;
        let follow_ups = stmt.query_and_then([customer_id], follow_up)?.collect::<Result<Vec<_>>>()?;
        Ok((alerts, follow_ups))
    }
}

impl StoreWriter<'_> {
    /// Stores an alert (with its outbox entry, and its follow-up when the rule opens one)
    /// unless the rule already fired on this verbatim: a verbatim sent again does not fire
    /// again, and its follow-up keeps its state. Returns whether it fired.
    pub fn fire(&mut self, firing: &Firing<'_>) -> Result<bool> {
        let now = firing.fired_at;
        if !self.rule_is_live(firing.rule.id)? {
            return Ok(false);
        }
        let exists: Option<i64> = self
            .tx
            .query_row(
                "SELECT id FROM alerts WHERE rule_id = ?1 AND verbatim_id = ?2",
                params![firing.rule.id, firing.verbatim_id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Ok(false);
        }
        let (state, next) = first_delivery(firing.rule, now);
        self.tx
            .execute(
                "INSERT INTO alerts (rule_id, verbatim_id, customer_id, fired_at, payload, state, attempts, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, '', ?5, 0, ?6)",
                params![firing.rule.id, firing.verbatim_id, firing.customer_id, rfc3339::format(&now), state.as_str(), next],
            )
            .map_err(StoreError::classify)?;
        let alert_id = self.tx.last_insert_rowid();
        let follow_up = match &firing.rule.follow_up {
            Some(policy) => {
                let due = now + chrono::Duration::hours(i64::from(policy.due_hours));
                self.tx
                    .execute(
                        "INSERT INTO follow_ups (alert_id, rule_id, verbatim_id, customer_id, status, owner, due_at,
                           created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?7)",
                        params![
                            alert_id,
                            firing.rule.id,
                            firing.verbatim_id,
                            firing.customer_id,
                            policy.owner,
                            rfc3339::format(&due),
                            rfc3339::format(&now)
                        ],
                    )
                    .map_err(StoreError::classify)?;
                Some((self.tx.last_insert_rowid(), due))
            }
            None => None,
        };
        self.tx
            .execute(
                "UPDATE alerts SET payload = ?2 WHERE id = ?1",
                params![alert_id, (firing.payload)(alert_id, follow_up)],
            )
            .map_err(StoreError::classify)?;
        Ok(true)
    }

    /// Stores a volume rule's alert about a period, with its outbox entry, unless the rule
    /// already fired on that period (a schedule evaluates each period many times). Returns
    /// whether it fired.
    pub fn fire_volume(&mut self, firing: &VolumeFiring<'_>) -> Result<bool> {
        if !self.rule_is_live(firing.rule.id)? {
            return Ok(false);
        }
        if volume_alert_exists(self.tx, firing.rule.id, firing.finding)? {
            return Ok(false);
        }
        let (state, next) = first_delivery(firing.rule, firing.fired_at);
        let volume = serde_json::to_string(firing.finding).expect("a finding serialises");
        self.tx
            .execute(
                "INSERT INTO alerts (rule_id, period, period_start, volume, fired_at, payload, state, attempts,
                   next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, '', ?6, 0, ?7)",
                params![
                    firing.rule.id,
                    firing.finding.period.as_str(),
                    rfc3339::format(&firing.finding.period_start),
                    volume,
                    rfc3339::format(&firing.fired_at),
                    state.as_str(),
                    next
                ],
            )
            .map_err(StoreError::classify)?;
        let alert_id = self.tx.last_insert_rowid();
        self.tx
            .execute("UPDATE alerts SET payload = ?2 WHERE id = ?1", params![alert_id, (firing.payload)(alert_id)])
            .map_err(StoreError::classify)?;
        Ok(true)
    }

    /// Whether a rule still exists and is enabled: one deleted or disabled since the
    /// evaluation read it fires no more.
    fn rule_is_live(&self, rule_id: i64) -> Result<bool> {
        let enabled: Option<bool> =
            self.tx.query_row("SELECT enabled FROM alert_rules WHERE id = ?1", [rule_id], |r| r.get(0)).optional()?;
        Ok(enabled == Some(true))
    }

    /// Erasure of a verbatim: its alerts, their outbox entries (the payload holds its text)
    /// and its follow-ups go with it.
    pub(super) fn forget_alerts_of_verbatim(&mut self, id: &str) -> Result<()> {
        self.tx.execute("DELETE FROM follow_ups WHERE verbatim_id = ?1", [id]).map_err(StoreError::classify)?;
        self.tx.execute("DELETE FROM alerts WHERE verbatim_id = ?1", [id]).map_err(StoreError::classify)?;
        Ok(())
    }

    /// Erasure of a customer: every alert and follow-up naming them.
    pub(super) fn forget_alerts_of_customer(&mut self, customer_id: &str) -> Result<()> {
        self.tx
            .execute("DELETE FROM follow_ups WHERE customer_id = ?1", [customer_id])
            .map_err(StoreError::classify)?;
        self.tx.execute("DELETE FROM alerts WHERE customer_id = ?1", [customer_id]).map_err(StoreError::classify)?;
        Ok(())
    }
}
