//! The service level standards: the tenant's and each project's.

use std::collections::BTreeSet;

use anju_kit::{Principal, ServiceResult, audit::Subject, time::ProjectZone, validate::Validator};
use anju_messaging::directory;
use anju_proto::complaints as pb;

use super::ComplaintsApi;
use crate::{
    domain::{
        calendar::{Calendar, Interval},
        standard::{MAX_TARGET_MINUTES, Standard, Targets},
        vocabulary::{Category, Severity},
    },
    store::standards::{self, Source},
};

impl ComplaintsApi {
    pub(super) async fn set_service_standard(
        &self,
        principal: &Principal,
        req: pb::SetServiceStandardRequest,
    ) -> ServiceResult<pb::SetServiceStandardResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let wire = req.standard.clone().unwrap_or_default();
        let project_id = v.optional_uuid("standard.project_id", &wire.project_id);
        let standard = parse(&mut v, &wire);
        v.finish()?;
        if let Some(project_id) = project_id {
            principal.require_project(project_id)?;
            directory::require_project(&self.pool, principal, project_id).await?;
        } else if principal.project_filter().is_some() {
            // A tenant's standard is for those who see every project.
            principal.require_project(uuid::Uuid::nil())?;
        }
        self.commands
            .run(
                principal,
                "SetServiceStandard",
                &request_id,
                &req,
                async |cmd| {
                    standards::set(cmd.conn(), principal.tenant_id, project_id, &standard).await?;
                    let source = if project_id.is_some() {
                        Source::Project
                    } else {
                        Source::Tenant
                    };
                    let response = pb::SetServiceStandardResponse {
                        standard: Some(to_wire(&standard, project_id, source)),
                    };
                    let subject =
                        Subject::new("service_standard", project_id.unwrap_or(uuid::Uuid::nil()));
                    Ok((response, subject))
                },
            )
            .await
    }

    pub(super) async fn get_service_standard(
        &self,
        principal: &Principal,
        req: pb::GetServiceStandardRequest,
    ) -> ServiceResult<pb::GetServiceStandardResponse> {
        let mut v = Validator::new();
        let project_id = v.optional_uuid("project_id", &req.project_id);
        v.finish()?;
        if let Some(project_id) = project_id {
            principal.require_project(project_id)?;
        }
        let (mut standard, source) =
            standards::effective(&self.pool, principal.tenant_id, project_id).await?;
        if let Some(project_id) = project_id {
            // What the project's complaints get: the tenant's or the default hours in the
            // project's own zone.
            standard = standards::for_project(&self.pool, principal.tenant_id, project_id).await?;
        }
        Ok(pb::GetServiceStandardResponse {
            standard: Some(to_wire(&standard, project_id, source)),
        })
    }
}

fn intervals(v: &mut Validator, field: &str, day: Option<&pb::WorkingDay>) -> Vec<Interval> {
    let list = day.map(|d| d.intervals.as_slice()).unwrap_or_default();
    v.count(field, list.len(), 4);
    list.iter()
        .take(4)
        .map(|i| {
            let ok = (0..=1440).contains(&i.start_minute) && (0..=1440).contains(&i.end_minute);
            v.check(ok, field, "minutes from midnight, 0 to 1440");
            (
                i.start_minute.clamp(0, 1440) as u32,
                i.end_minute.clamp(0, 1440) as u32,
            )
        })
        .collect()
}

fn dates(
    v: &mut Validator,
    field: &str,
    list: &[String],
    max: usize,
) -> BTreeSet<chrono::NaiveDate> {
    v.count(field, list.len(), max);
    list.iter()
        .take(max)
        .enumerate()
        .map(|(i, d)| v.date(&format!("{field}[{i}]"), d))
        .collect()
}

fn parse(v: &mut Validator, wire: &pb::ServiceStandard) -> Standard {
    let cal = wire.calendar.clone().unwrap_or_default();
    let time_zone = if cal.time_zone.is_empty() {
        ProjectZone::DEFAULT_NAME.to_string()
    } else {
        v.text("standard.calendar.time_zone", &cal.time_zone, 64)
    };
    v.check(
        cal.week.len() == 7,
        "standard.calendar.week",
        "seven days, Monday to Sunday",
    );
    let mut week: [Vec<Interval>; 7] = Default::default();
    for (i, day) in week.iter_mut().enumerate() {
        *day = intervals(v, &format!("standard.calendar.week[{i}]"), cal.week.get(i));
    }
    let calendar = Calendar {
        time_zone,
        week,
        holidays: dates(v, "standard.calendar.holidays", &cal.holidays, 400),
        make_up_days: dates(v, "standard.calendar.make_up_days", &cal.make_up_days, 100),
        make_up_hours: intervals(
            v,
            "standard.calendar.make_up_hours",
            cal.make_up_hours.as_ref(),
        ),
    };
    for (field, problem) in calendar.problems() {
        v.violation(&format!("standard.{field}"), problem);
    }
    v.count("standard.targets", wire.targets.len(), 20);
    let mut targets = Vec::new();
    for (i, t) in wire.targets.iter().take(20).enumerate() {
        let field = format!("standard.targets[{i}]");
        let category = Category::from_wire(t.category);
        let severity = Severity::from_wire(t.severity);
        v.check(category.is_some(), &format!("{field}.category"), "required");
        v.check(severity.is_some(), &format!("{field}.severity"), "required");
        let set = t.targets.unwrap_or_default();
        let max = MAX_TARGET_MINUTES as i32;
        let mut minutes = |name: &str, m: i32| {
            v.range(&format!("{field}.targets.{name}"), m, 0, max)
                .clamp(0, max) as u32
        };
        let parsed = Targets {
            acknowledge: minutes("acknowledge_minutes", set.acknowledge_minutes),
            route: minutes("route_minutes", set.route_minutes),
            resolve: minutes("resolve_minutes", set.resolve_minutes),
            follow_up: minutes("follow_up_minutes", set.follow_up_minutes),
        };
        if let (Some(c), Some(s)) = (category, severity) {
            let twice = targets.iter().any(|(c2, s2, _)| (*c2, *s2) == (c, s));
            v.check(!twice, &field, "each category × severity once");
            targets.push((c, s, parsed));
        }
    }
    v.range("standard.warn_percent", wire.warn_percent, 1, 99);
    let supervisor = v.text("standard.supervisor", &wire.supervisor, 200);
    Standard {
        calendar,
        targets,
        warn_percent: wire.warn_percent.clamp(1, 99) as u32,
        supervisor,
    }
}

fn to_wire(s: &Standard, project_id: Option<uuid::Uuid>, source: Source) -> pb::ServiceStandard {
    let day = |list: &[Interval]| pb::WorkingDay {
        intervals: list
            .iter()
            .map(|&(a, b)| pb::Interval {
                start_minute: a as i32,
                end_minute: b as i32,
            })
            .collect(),
    };
    pb::ServiceStandard {
        project_id: project_id.map(|p| p.to_string()).unwrap_or_default(),
        calendar: Some(pb::Calendar {
            time_zone: s.calendar.time_zone.clone(),
            week: s.calendar.week.iter().map(|d| day(d)).collect(),
            holidays: s.calendar.holidays.iter().map(|d| d.to_string()).collect(),
            make_up_days: s
                .calendar
                .make_up_days
                .iter()
                .map(|d| d.to_string())
                .collect(),
            make_up_hours: Some(day(&s.calendar.make_up_hours)),
        }),
        targets: s
            .targets
            .iter()
            .map(|(c, sev, t)| pb::SeverityTargets {
                category: c.wire(),
                severity: sev.wire(),
                targets: Some(pb::TargetSet {
                    acknowledge_minutes: t.acknowledge as i32,
                    route_minutes: t.route as i32,
                    resolve_minutes: t.resolve as i32,
                    follow_up_minutes: t.follow_up as i32,
                }),
            })
            .collect(),
        warn_percent: s.warn_percent as i32,
        supervisor: s.supervisor.clone(),
        source: source.as_str().into(),
    }
}
