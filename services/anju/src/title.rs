//! `anju title …`: a title officer's bulk work over TitleService — a surveying firm's report
//! imported from a CSV file (all or nothing, with progress and a report of every bad row), and
//! the units whose statutory clocks are at risk or overdue.

use anju::client::{self, Authed};
use anju_kit::{Role, Settings, auth::TokenIssuer, error::field_violations};
use anju_proto::{
    common::Area,
    title::{self as pb, title_service_client::TitleServiceClient},
};
use anyhow::{Context, bail};
use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::output::{Output, all_pages};

/// Rows per streamed message.
const CHUNK: usize = 500;

#[derive(Subcommand)]
pub enum TitleAction {
    /// Import a survey report: a CSV file with a header `unit_id,measured_area_m2` (square
    /// metres with up to four decimals, e.g. 89.1234). Nothing is recorded unless every row is.
    ImportSurvey {
        #[arg(long)]
        project: Uuid,
        #[arg(long)]
        file: std::path::PathBuf,
        /// The surveying firm.
        #[arg(long)]
        firm: String,
        /// The firm's report number; also names the import, so running it again acts once.
        #[arg(long)]
        report: String,
    },
    /// A project's title files whose statutory clocks are at risk or overdue, and why.
    AtRisk {
        #[arg(long)]
        project: Uuid,
        /// Only those past a due day.
        #[arg(long)]
        overdue: bool,
    },
}

/// One data row of a survey CSV.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub line: i32,
    pub unit_id: String,
    pub cm2: i64,
}

/// Square metres with up to four decimals, exactly, as square centimetres.
fn square_centimetres(text: &str) -> Result<i64, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) || fraction.len() > 4 {
        return Err(format!(
            "measured_area_m2 {text:?} is not square metres with up to four decimals"
        ));
    }
    let whole: i64 = whole
        .parse()
        .ok()
        .filter(|w| *w <= 100_000)
        .ok_or_else(|| format!("measured_area_m2 {text:?} is too large"))?;
    let fraction: i64 = format!("{fraction:0<4}").parse().unwrap_or(0);
    Ok(whole * 10_000 + fraction)
}

/// Parses a survey CSV: the rows, or every bad line with its reason.
pub fn parse(csv: &str) -> Result<Vec<Row>, Vec<String>> {
    let mut lines = csv.lines().enumerate();
    let mut errors = Vec::new();
    match lines.next() {
        Some((_, header))
            if header
                .trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case("unit_id,measured_area_m2") => {}
        _ => {
            return Err(vec![
                "line 1: the header must be unit_id,measured_area_m2".into(),
            ]);
        }
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let number = i as i32 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [unit_id, area] = fields[..] else {
            errors.push(format!(
                "line {number}: expected 2 fields, found {}",
                fields.len()
            ));
            continue;
        };
        match square_centimetres(area) {
            Ok(cm2) => rows.push(Row {
                line: number,
                unit_id: unit_id.to_string(),
                cm2,
            }),
            Err(why) => errors.push(format!("line {number}: {why}")),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push("the file has no rows".into());
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn file_json(f: &pb::TitleFile) -> Value {
    json!({
        "unit_id": f.unit_id,
        "contract_id": f.contract_id,
        "buyer_name": f.buyer_name,
        "handed_over_on": f.handed_over_on,
        "clocks": f.clocks.iter().map(|c| json!({
            "kind": c.kind,
            "due_on": c.due_on,
            "state": pb::ClockState::try_from(c.state).map(|s| s.as_str_name()).unwrap_or("?"),
        })).collect::<Vec<_>>(),
        "waiting_for": f.waiting_for,
    })
}

pub async fn run(
    settings: &Settings,
    tenant: Uuid,
    action: TitleAction,
    output: Output,
) -> anyhow::Result<()> {
    let secret = settings
        .auth
        .hs256_secret
        .as_ref()
        .context("an HS256 key signs the title officer's token")?;
    let token =
        TokenIssuer::hs256(secret.expose()).staff(tenant, "anju-cli", &[Role::TitleOfficer])?;
    let channel: Authed = client::authed_at(&settings.endpoint("title"), &token)?;
    let mut title = TitleServiceClient::new(channel);
    match action {
        TitleAction::ImportSurvey {
            project,
            file,
            firm,
            report,
        } => {
            let csv = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rows = match parse(&csv) {
                Ok(rows) => rows,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{}: {e}", file.display());
                    }
                    bail!("{} bad row(s): nothing was imported", errors.len());
                }
            };
            let total = rows.len();
            let lines: Vec<i32> = rows.iter().map(|r| r.line).collect();
            let mut messages = vec![pb::ImportSurveyRequest {
                request_id: format!("survey-import-{report}"),
                project_id: project.to_string(),
                surveying_firm: firm,
                report_number: report,
                rows: Vec::new(),
            }];
            messages.extend(rows.chunks(CHUNK).map(|chunk| {
                pb::ImportSurveyRequest {
                    rows: chunk
                        .iter()
                        .map(|r| pb::SurveyRow {
                            line: r.line,
                            unit_id: r.unit_id.clone(),
                            measured_area: Some(Area {
                                square_centimetres: r.cm2,
                            }),
                        })
                        .collect(),
                    ..Default::default()
                }
            }));
            let text = output == Output::Text;
            let mut sent = 0;
            let stream = futures::stream::iter(messages).inspect(move |m| {
                sent += m.rows.len();
                if text && !m.rows.is_empty() {
                    eprintln!("sent {sent}/{total} rows");
                }
            });
            match title.import_survey(stream).await {
                Ok(answer) => {
                    let answer = answer.into_inner();
                    output.emit(
                        || json!({ "recorded": answer.recorded, "assessed": answer.assessed }),
                        || {
                            println!(
                                "recorded {} unit(s); {} area difference(s) assessed at once",
                                answer.recorded, answer.assessed
                            )
                        },
                    );
                }
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    let violations = field_violations(&status);
                    for v in &violations {
                        // rows[i].field → the row's line in the file.
                        let line = v
                            .field
                            .strip_prefix("rows[")
                            .and_then(|rest| rest.split(']').next())
                            .and_then(|i| i.parse::<usize>().ok())
                            .and_then(|i| lines.get(i));
                        match line {
                            Some(_) => eprintln!("{}: {}", file.display(), v.description),
                            None => eprintln!("{}: {}: {}", file.display(), v.field, v.description),
                        }
                    }
                    bail!(
                        "{} bad row(s): nothing was imported",
                        violations.len().max(1)
                    );
                }
                Err(status) => bail!("{:?}: {}", status.code(), status.message()),
            }
        }
        TitleAction::AtRisk { project, overdue } => {
            let clocks = if overdue {
                pb::ClockFilter::Overdue
            } else {
                pb::ClockFilter::AtRiskOrOverdue
            };
            let files = all_pages(|token| {
                let mut title = title.clone();
                let request = pb::ListTitleFilesRequest {
                    project_id: project.to_string(),
                    clocks: clocks as i32,
                    page_size: 500,
                    page_token: token,
                };
                async move {
                    let page = title.list_title_files(request).await?.into_inner();
                    Ok((page.title_files, page.next_page_token))
                }
            })
            .await?;
            output.emit(
                || Value::Array(files.iter().map(file_json).collect()),
                || {
                    for f in &files {
                        let clocks: Vec<String> = f
                            .clocks
                            .iter()
                            .filter(|c| c.kind != "choice")
                            .map(|c| {
                                let state = pb::ClockState::try_from(c.state)
                                    .map(|s| s.as_str_name())
                                    .unwrap_or("?");
                                format!("{} due {} {}", c.kind, c.due_on, state)
                            })
                            .collect();
                        println!(
                            "{}  {}  {}  waits for: {}",
                            f.unit_id,
                            f.buyer_name,
                            clocks.join("; "),
                            f.waiting_for.join(", ")
                        );
                    }
                    println!("{} unit(s)", files.len());
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_metres_are_read_exactly_to_the_square_centimetre() {
        assert_eq!(square_centimetres("89.1234"), Ok(891_234));
        assert_eq!(square_centimetres("89.1"), Ok(891_000));
        assert_eq!(square_centimetres("89"), Ok(890_000));
        assert!(square_centimetres("89.12345").is_err());
        assert!(square_centimetres("-89").is_err());
        assert!(square_centimetres("8e1").is_err());
        assert!(square_centimetres("1000000").is_err());
    }

    #[test]
    fn every_bad_line_is_reported_and_nothing_is_returned() {
        let csv = "unit_id,measured_area_m2\na,89.5\nb\nc,eighty\n\nd,90.0001\n";
        let errors = parse(csv).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("line 3:"), "{errors:?}");
        assert!(errors[1].starts_with("line 4:"), "{errors:?}");
        let good = parse("unit_id,measured_area_m2\na,89.5\nd,90.0001\n").unwrap();
        assert_eq!(
            good,
            [
                Row {
                    line: 2,
                    unit_id: "a".into(),
                    cm2: 895_000
                },
                Row {
                    line: 3,
                    unit_id: "d".into(),
                    cm2: 900_001
                }
            ]
        );
        assert!(parse("unit,area\na,1\n").is_err());
    }
}
