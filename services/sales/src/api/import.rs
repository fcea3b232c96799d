//! Bulk import of a building's unit table: all rows or none.

use std::collections::HashSet;

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, error::FieldViolation, ids::new_id,
    validate::Validator,
};
use anju_proto::sales as pb;
use futures::StreamExt;
use tonic::Streaming;

use super::{SalesApi, catalogue::MAX_UNIT_AREA_CM2};
use crate::store::catalogue::{self, Unit};

/// Rows in one import at most; bigger tables are split by the client.
const MAX_ROWS: usize = 5_000;

impl SalesApi {
    pub(super) async fn import_units(
        &self,
        principal: &Principal,
        mut stream: Streaming<pb::ImportUnitsRequest>,
    ) -> ServiceResult<pb::ImportUnitsResponse> {
        // Gather the whole table first: nothing is written until every row is known good.
        let mut request = pb::ImportUnitsRequest::default();
        while let Some(message) = stream.next().await {
            let message = message.map_err(|status| {
                ServiceError::invalid("rows", format!("stream broke: {}", status.message()))
            })?;
            if request.request_id.is_empty() {
                request.request_id = message.request_id;
            }
            if request.building_id.is_empty() {
                request.building_id = message.building_id;
            }
            request.rows.extend(message.rows);
            if request.rows.len() > MAX_ROWS {
                return Err(ServiceError::invalid(
                    "rows",
                    format!("at most {MAX_ROWS} rows per import"),
                ));
            }
        }
        let mut v = Validator::new();
        let request_id = v.request_id(&request.request_id);
        let building_id = v.uuid("building_id", &request.building_id);
        if request.rows.is_empty() {
            v.violation("rows", "is empty");
        }
        v.finish()?;

        self.commands
            .run(
                principal,
                "ImportUnits",
                &request_id,
                &request,
                async |command| {
                    let building =
                        catalogue::building(command.tx(), principal.tenant_id, building_id).await?;
                    principal
                        .require_project(building.project_id)
                        .map_err(|_| ServiceError::not_found("building"))?;

                    let existing: HashSet<String> =
                        catalogue::unit_numbers(command.tx(), principal.tenant_id, building_id)
                            .await?
                            .into_iter()
                            .collect();
                    let mut seen = HashSet::new();
                    let mut violations: Vec<FieldViolation> = Vec::new();
                    let mut units = Vec::with_capacity(request.rows.len());
                    for (i, row) in request.rows.iter().enumerate() {
                        let mut v = Validator::new();
                        let number = v.text("unit_number", &row.unit_number, 32);
                        let layout = v.text("layout", &row.layout, 64);
                        let orientation = v
                            .optional_text("orientation", &row.orientation, 32)
                            .unwrap_or_default();
                        let area = v.area(
                            "forecast_area",
                            row.forecast_area.as_ref(),
                            MAX_UNIT_AREA_CM2,
                        );
                        let (price, currency) = v.money("list_price", row.list_price.as_ref());
                        if row.floor == 0 || row.floor < -5 || row.floor > building.floors {
                            v.violation(
                                "floor",
                                format!("must be between -5 and {} and not 0", building.floors),
                            );
                        }
                        if existing.contains(&number) {
                            v.violation("unit_number", "already exists in this building");
                        } else if !number.is_empty() && !seen.insert(number.clone()) {
                            v.violation("unit_number", "appears twice in this import");
                        }
                        if let Err(ServiceError::InvalidArgument(row_violations)) = v.finish() {
                            violations.extend(row_violations.into_iter().map(|fv| {
                                FieldViolation {
                                    field: format!("rows[{i}].{}", fv.field),
                                    description: fv.description,
                                }
                            }));
                            continue;
                        }
                        units.push(Unit {
                            unit_id: new_id(),
                            project_id: building.project_id,
                            building_id,
                            unit_number: number,
                            floor: row.floor,
                            layout,
                            forecast_area_cm2: area,
                            list_price_minor: price,
                            currency,
                            orientation,
                            status: "available".into(),
                            customer_id: None,
                        });
                    }
                    if !violations.is_empty() {
                        return Err(ServiceError::InvalidArgument(violations));
                    }
                    let mut imported = Vec::with_capacity(units.len());
                    for unit in units {
                        catalogue::insert_unit(command.tx(), principal.tenant_id, &unit).await?;
                        let proto: pb::Unit = unit.clone().into();
                        let event = super::catalogue::registered(&proto);
                        command
                            .emit(command.event("unit", unit.unit_id), &event)
                            .await?;
                        imported.push(proto);
                    }
                    let response = pb::ImportUnitsResponse {
                        imported: imported.len() as i32,
                        units: imported,
                    };
                    let subject = Subject::new("building", building_id)
                        .with_detail(serde_json::json!({ "imported": response.imported }));
                    Ok((response, subject))
                },
            )
            .await
    }
}
