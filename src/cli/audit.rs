//! `authd audit`: the newest audit events, filtered, as a table or JSON lines.

use super::CliResult;
use crate::auth::audit::Event;
use crate::config::Settings;
use crate::db::audit::{AuditEvent, AuditFilter};

pub fn run(user: Option<String>, event_type: Option<String>, limit: i64, json: bool) -> CliResult {
    let event_type = event_type
        .map(|name| {
            Event::parse(&name)
                .map(|e| e.as_str().to_owned())
                .ok_or_else(|| {
                    let known: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
                    format!(
                        "--type {name:?} is not an event type; one of: {}",
                        known.join(", ")
                    )
                })
        })
        .transpose()?;
    let settings = Settings::load().map_err(|e| e.to_string())?;
    let mut conn = super::open_connection(&settings)?;
    let filter = AuditFilter {
        user_id: user,
        event_type,
        ..AuditFilter::default()
    };
    let events = AuditEvent::page(&mut conn, &filter, None, limit.clamp(1, 10_000))
        .map_err(|e| format!("{e} (are the migrations applied? authd migrate)"))?;
    for event in events {
        if json {
            let line = serde_json::json!({
                "id": event.id,
                "type": event.event_type,
                "createdAt": crate::routes::responses::rfc3339(event.created_at),
                "userId": event.user_id,
                "actor": event.actor,
                "ip": event.ip,
                "userAgent": event.user_agent,
                "details": serde_json::from_str::<serde_json::Value>(&event.details).unwrap_or_default(),
            });
            println!("{line}");
        } else {
            println!(
                "{}  {:<24}  {:<36}  {:<44}  {:<15}  {}",
                event.created_at.format("%Y-%m-%d %H:%M:%S"),
                event.event_type,
                event.user_id.as_deref().unwrap_or("-"),
                event.actor,
                if event.ip.is_empty() { "-" } else { &event.ip },
                event.details
            );
        }
    }
    Ok(())
}
