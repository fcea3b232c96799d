//! The two books (seed ⑧ 5.1.2): recorded per project, building or layout with their
//! versions; the key release hands over the unit's current ones.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult, audit::Subject, paging::Page,
    validate::Validator,
};
use anju_proto::handover as pb;

use super::{HandoverApi, wire};
use crate::store::{
    books::{self as books_store, NewBook},
    units,
};

impl HandoverApi {
    pub(super) async fn record_book(
        &self,
        principal: &Principal,
        req: pb::RecordBookRequest,
    ) -> ServiceResult<pb::RecordBookResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.optional_uuid("building_id", &req.building_id);
        let layout = v
            .optional_text("layout", &req.layout, 64)
            .unwrap_or_default();
        let kind = match pb::BookKind::try_from(req.kind) {
            Ok(pb::BookKind::ResidenceManual) => "residence_manual",
            Ok(pb::BookKind::WarrantyCertificate) => "warranty_certificate",
            _ => {
                v.violation(
                    "kind",
                    "must be the residence manual or the warranty certificate",
                );
                ""
            }
        };
        let version = v.text("version", &req.version, 64);
        let document_ref = v.text("document_ref", &req.document_ref, 512);
        v.finish()?;
        principal.require_project(project_id)?;
        if !units::known(&self.pool, principal.tenant_id, project_id, building_id).await? {
            return Err(ServiceError::not_found(if building_id.is_some() {
                "building"
            } else {
                "project"
            }));
        }
        self.commands
            .run(principal, "RecordBook", &request_id, &req, async |cmd| {
                let tenant = cmd.tenant();
                let book = NewBook {
                    project_id,
                    building_id,
                    layout: &layout,
                    kind,
                    version: &version,
                    document_ref: &document_ref,
                };
                let Some(book) =
                    books_store::insert(cmd.conn(), tenant, &principal.subject, &book).await?
                else {
                    return Err(Refusal::new(
                        "BOOK_VERSION_RECORDED",
                        "this version of the book is already on record for that scope",
                    )
                    .with("version", &version)
                    .into());
                };
                let book_id = book.book_id;
                let response = pb::RecordBookResponse {
                    book: Some(wire::book(book)),
                };
                Ok((response, Subject::new("book", book_id)))
            })
            .await
    }

    pub(super) async fn list_books(
        &self,
        principal: &Principal,
        req: pb::ListBooksRequest,
    ) -> ServiceResult<pb::ListBooksResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (books, next_page_token) =
            books_store::list(&self.pool, principal.tenant_id, project_id, page).await?;
        Ok(pb::ListBooksResponse {
            books: books.into_iter().map(wire::book).collect(),
            next_page_token,
        })
    }
}
