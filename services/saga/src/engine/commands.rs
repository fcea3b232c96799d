//! Commands the coordinator sends to other services. Each carries the request id the
//! engine derives from the saga and step, so sending it twice acts once.

use anju_proto::{complaints, finance, handover, maintenance, sales};
use prost::Message;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    IssueCharge(finance::IssueChargeRequest),
    CloseSettlementGroup(finance::CloseSettlementGroupRequest),
    ConfirmSubscription(sales::ConfirmSubscriptionRequest),
    LapseSubscription(sales::LapseSubscriptionRequest),
    RescindContract(sales::RescindContractRequest),
    RecordNotice(handover::RecordNoticeRequest),
    GrantKeyClearance(handover::GrantKeyClearanceRequest),
    CreateRepairRequest(maintenance::CreateRepairRequestRequest),
    CloseFundVote(maintenance::CloseFundVoteRequest),
    RecordRepairProgress(complaints::RecordRepairProgressRequest),
    RecordComplaint(complaints::RecordComplaintRequest),
}

impl Command {
    /// (service, method, encoded request with `request_id` set).
    pub fn encode(&self, request_id: &str) -> (&'static str, &'static str, Vec<u8>) {
        let id = request_id.to_string();
        match self.clone() {
            Command::IssueCharge(mut r) => {
                r.request_id = id;
                ("finance", "IssueCharge", r.encode_to_vec())
            }
            Command::CloseSettlementGroup(mut r) => {
                r.request_id = id;
                ("finance", "CloseSettlementGroup", r.encode_to_vec())
            }
            Command::ConfirmSubscription(mut r) => {
                r.request_id = id;
                ("sales", "ConfirmSubscription", r.encode_to_vec())
            }
            Command::LapseSubscription(mut r) => {
                r.request_id = id;
                ("sales", "LapseSubscription", r.encode_to_vec())
            }
            Command::RescindContract(mut r) => {
                r.request_id = id;
                ("sales", "RescindContract", r.encode_to_vec())
            }
            Command::RecordNotice(mut r) => {
                r.request_id = id;
                ("handover", "RecordNotice", r.encode_to_vec())
            }
            Command::GrantKeyClearance(mut r) => {
                r.request_id = id;
                ("handover", "GrantKeyClearance", r.encode_to_vec())
            }
            Command::CreateRepairRequest(mut r) => {
                r.request_id = id;
                ("maintenance", "CreateRepairRequest", r.encode_to_vec())
            }
            Command::CloseFundVote(mut r) => {
                r.request_id = id;
                ("maintenance", "CloseFundVote", r.encode_to_vec())
            }
            Command::RecordRepairProgress(mut r) => {
                r.request_id = id;
                ("complaints", "RecordRepairProgress", r.encode_to_vec())
            }
            Command::RecordComplaint(mut r) => {
                r.request_id = id;
                ("complaints", "RecordComplaint", r.encode_to_vec())
            }
        }
    }

    pub fn decode(method: &str, payload: &[u8]) -> anyhow::Result<Self> {
        Ok(match method {
            "IssueCharge" => Command::IssueCharge(Message::decode(payload)?),
            "CloseSettlementGroup" => Command::CloseSettlementGroup(Message::decode(payload)?),
            "ConfirmSubscription" => Command::ConfirmSubscription(Message::decode(payload)?),
            "LapseSubscription" => Command::LapseSubscription(Message::decode(payload)?),
            "RescindContract" => Command::RescindContract(Message::decode(payload)?),
            "RecordNotice" => Command::RecordNotice(Message::decode(payload)?),
            "GrantKeyClearance" => Command::GrantKeyClearance(Message::decode(payload)?),
            "CreateRepairRequest" => Command::CreateRepairRequest(Message::decode(payload)?),
            "CloseFundVote" => Command::CloseFundVote(Message::decode(payload)?),
            "RecordRepairProgress" => Command::RecordRepairProgress(Message::decode(payload)?),
            "RecordComplaint" => Command::RecordComplaint(Message::decode(payload)?),
            other => anyhow::bail!("unknown command {other}"),
        })
    }
}
