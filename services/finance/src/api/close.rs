//! CloseDay: a cashier's takings of one business date, frozen.

use anju_kit::{Principal, Role, ServiceError, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::finance as pb;

use crate::{
    FinanceApi,
    domain::dates::{self, format_date},
    store::daily_close,
};

impl FinanceApi {
    pub(crate) async fn close_day(
        &self,
        principal: &Principal,
        req: pb::CloseDayRequest,
    ) -> ServiceResult<pb::CloseDayResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let named = v.optional_text("cashier_id", &req.cashier_id, 128);
        let date = dates::date_for_write(&mut v, "business_date", &req.business_date);
        v.finish()?;
        // A cashier closes their own day; only an administrator closes someone else's.
        let cashier = match named {
            Some(named) if named != principal.subject && !principal.has(Role::Admin) => {
                return Err(ServiceError::PermissionDenied(
                    "a cashier closes only their own day".into(),
                ));
            }
            Some(named) => named,
            None => principal.subject.clone(),
        };

        self.commands
            .run(principal, "CloseDay", &request_id, &req, async |command| {
                let scope = principal.project_filter();
                let report = daily_close::close(
                    command.tx(),
                    principal.tenant_id,
                    &cashier,
                    date,
                    &principal.subject,
                    scope.as_deref(),
                )
                .await?;
                let response = pb::CloseDayResponse {
                    report: Some(report.into()),
                };
                let subject =
                    Subject::new("cashier_day", format!("{cashier}/{}", format_date(date)));
                Ok((response, subject))
            })
            .await
    }
}
