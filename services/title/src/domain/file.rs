//! A unit's title file as facts, what it waits for, and the rules of its next steps
//! (DOMAIN.md §6.3–6.6): the application goes to the registry only once the building is
//! registered, the area difference settled, the documents complete and the fees paid; a
//! mortgaged unit's deed goes to the lending bank.

use anju_kit::Refusal;

/// The standard checklist (seed ⑧ 5.2): the owner's ID, the purchase contract, the invoice,
/// the deed-tax receipt and the maintenance-fund receipt; a project adds its own.
pub const STANDARD_DOCUMENTS: [&str; 5] = [
    "id_document",
    "purchase_contract",
    "purchase_invoice",
    "deed_tax_receipt",
    "maintenance_fund_receipt",
];

/// The project's checklist: the standard items, then its own.
pub fn checklist(extra: &[String]) -> Vec<String> {
    let mut items: Vec<String> = STANDARD_DOCUMENTS.iter().map(|s| s.to_string()).collect();
    for item in extra {
        if !items.contains(item) {
            items.push(item.clone());
        }
    }
    items
}

/// The buyer's choice beyond ±3 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Keep,
    Cancel,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Keep => "keep",
            Choice::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keep" => Some(Choice::Keep),
            "cancel" => Some(Choice::Cancel),
            _ => None,
        }
    }
}

/// Everything the rules read about one unit's file.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub surveyed: bool,
    pub has_contract: bool,
    pub cancelled: bool,
    pub assessed: bool,
    pub buyer_may_cancel: bool,
    pub choice: Option<Choice>,
    pub area_settled: bool,
    /// Checklist items not accepted yet.
    pub documents_missing: Vec<String>,
    pub fees_assessed: bool,
    pub fees_paid: bool,
    pub building_registered: bool,
    pub submitted: bool,
    pub deed_issued: bool,
    pub delivered: bool,
    pub mortgaged: bool,
}

/// Reasons that are the developer's doing, not the owner's: liability after 90 days.
const DEVELOPER_REASONS: [&str; 2] = ["survey", "developer_filing_missing"];

/// What the file waits for, first things first (the names `TitleFile.waiting_for` documents).
pub fn waiting_for(f: &Facts) -> Vec<&'static str> {
    if f.cancelled || f.delivered {
        return Vec::new();
    }
    let mut waits = Vec::new();
    if !f.surveyed {
        waits.push("survey");
    } else if f.has_contract && f.assessed && !f.area_settled {
        if f.buyer_may_cancel && f.choice.is_none() {
            waits.push("buyer_choice");
        } else {
            waits.push("area_difference_unsettled");
        }
    }
    if f.submitted {
        if !f.deed_issued {
            waits.push("deed");
        } else {
            waits.push("delivery");
        }
        return waits;
    }
    if !f.documents_missing.is_empty() {
        waits.push("owner_documents_missing");
    }
    if !f.fees_assessed {
        waits.push("fees_not_assessed");
    } else if !f.fees_paid {
        waits.push("fees_unpaid");
    }
    if !f.building_registered {
        waits.push("developer_filing_missing");
    }
    if waits.is_empty() {
        waits.push("submission");
    }
    waits
}

/// Whether a late title is the developer's fault: it waits on the developer's own step.
pub fn developer_at_fault(waits: &[&str]) -> bool {
    waits.iter().any(|w| DEVELOPER_REASONS.contains(w))
}

/// The application may go to the registry.
pub fn may_submit(f: &Facts) -> Result<(), Refusal> {
    if f.cancelled {
        return Err(Refusal::new(
            "CONTRACT_CANCELLED",
            "the unit's contract was cancelled",
        ));
    }
    if !f.has_contract {
        return Err(Refusal::new(
            "NO_CONTRACT",
            "the unit has no signed contract",
        ));
    }
    if f.submitted {
        return Err(Refusal::new(
            "ALREADY_SUBMITTED",
            "the application was submitted",
        ));
    }
    if !f.building_registered {
        return Err(Refusal::new(
            "BUILDING_NOT_REGISTERED",
            "the building's initial registration is not recorded",
        ));
    }
    if !f.area_settled {
        return Err(Refusal::new(
            "AREA_UNSETTLED",
            "the area difference is not settled",
        ));
    }
    if !f.documents_missing.is_empty() {
        return Err(Refusal::new(
            "DOCUMENTS_INCOMPLETE",
            format!("documents not accepted: {}", f.documents_missing.join(", ")),
        )
        .with("missing", f.documents_missing.join(",")));
    }
    if !f.fees_assessed {
        return Err(Refusal::new(
            "FEES_NOT_ASSESSED",
            "deed tax and registration fees are not assessed",
        ));
    }
    if !f.fees_paid {
        return Err(Refusal::new(
            "FEES_UNPAID",
            "deed tax or registration fees unpaid",
        ));
    }
    Ok(())
}

/// Who receives the deed: a mortgaged unit's goes to the lending bank (DOMAIN.md §6.6).
pub fn may_deliver(f: &Facts, to_bank: bool, bank: &str) -> Result<(), Refusal> {
    if !f.deed_issued {
        return Err(Refusal::new("DEED_NOT_ISSUED", "the deed is not issued"));
    }
    if f.delivered {
        return Err(Refusal::new("ALREADY_DELIVERED", "the deed was delivered"));
    }
    if f.mortgaged && !to_bank {
        return Err(Refusal::new(
            "DEED_GOES_TO_BANK",
            format!("the unit is mortgaged: its deed goes to the lending bank {bank}"),
        )
        .with("bank", bank));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Facts {
        Facts {
            surveyed: true,
            has_contract: true,
            assessed: true,
            area_settled: true,
            fees_assessed: true,
            fees_paid: true,
            building_registered: true,
            ..Facts::default()
        }
    }

    #[test]
    fn a_ready_file_waits_for_its_submission_only() {
        assert_eq!(waiting_for(&ready()), ["submission"]);
        assert!(may_submit(&ready()).is_ok());
    }

    #[test]
    fn each_missing_step_refuses_the_application_with_its_code() {
        type Change = fn(&mut Facts);
        let cases: [(Change, &str); 5] = [
            (|f| f.building_registered = false, "BUILDING_NOT_REGISTERED"),
            (|f| f.area_settled = false, "AREA_UNSETTLED"),
            (
                |f| f.documents_missing = vec!["id_document".into()],
                "DOCUMENTS_INCOMPLETE",
            ),
            (|f| f.fees_assessed = false, "FEES_NOT_ASSESSED"),
            (|f| f.fees_paid = false, "FEES_UNPAID"),
        ];
        for (change, code) in cases {
            let mut f = ready();
            change(&mut f);
            assert_eq!(may_submit(&f).unwrap_err().reason, code);
        }
    }

    #[test]
    fn the_reasons_a_unit_waits_name_whose_step_it_is() {
        let mut f = ready();
        f.documents_missing = vec!["purchase_invoice".into()];
        f.fees_paid = false;
        f.building_registered = false;
        let waits = waiting_for(&f);
        assert_eq!(
            waits,
            [
                "owner_documents_missing",
                "fees_unpaid",
                "developer_filing_missing"
            ]
        );
        assert!(developer_at_fault(&waits));
        f.building_registered = true;
        assert!(!developer_at_fault(&waiting_for(&f)));
    }

    #[test]
    fn a_buyer_beyond_three_percent_is_waited_for_before_the_settlement() {
        let mut f = ready();
        f.area_settled = false;
        f.buyer_may_cancel = true;
        assert_eq!(waiting_for(&f)[0], "buyer_choice");
        f.choice = Some(Choice::Keep);
        assert_eq!(waiting_for(&f)[0], "area_difference_unsettled");
    }

    #[test]
    fn a_mortgaged_units_deed_goes_to_its_bank() {
        let mut f = ready();
        f.deed_issued = true;
        f.mortgaged = true;
        assert_eq!(
            may_deliver(&f, false, "ICBC").unwrap_err().reason,
            "DEED_GOES_TO_BANK"
        );
        assert!(may_deliver(&f, true, "ICBC").is_ok());
        f.mortgaged = false;
        assert!(may_deliver(&f, false, "").is_ok());
    }

    #[test]
    fn the_checklist_is_the_standard_five_and_the_projects_own() {
        let list = checklist(&["marriage_certificate".into(), "id_document".into()]);
        assert_eq!(list.len(), 6);
        assert_eq!(list[5], "marriage_certificate");
    }
}
