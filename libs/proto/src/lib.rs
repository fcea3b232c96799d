//! Generated contracts of every anju service (`anju.<svc>.v1`) and of the events they
//! publish (`anju.events.v1`), with clients and servers, plus the descriptor set that
//! servers register for gRPC reflection.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// Encoded `FileDescriptorSet` of every anju package, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/anju_descriptor.bin"));

pub mod anju {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("anju.common.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("anju.events.v1");
        }
    }
    pub mod sales {
        pub mod v1 {
            tonic::include_proto!("anju.sales.v1");
        }
    }
    pub mod finance {
        pub mod v1 {
            tonic::include_proto!("anju.finance.v1");
        }
    }
    pub mod handover {
        pub mod v1 {
            tonic::include_proto!("anju.handover.v1");
        }
    }
    pub mod maintenance {
        pub mod v1 {
            tonic::include_proto!("anju.maintenance.v1");
        }
    }
    pub mod complaints {
        pub mod v1 {
            tonic::include_proto!("anju.complaints.v1");
        }
    }
    pub mod title {
        pub mod v1 {
            tonic::include_proto!("anju.title.v1");
        }
    }
    pub mod saga {
        pub mod v1 {
            tonic::include_proto!("anju.saga.v1");
        }
    }
}

pub use anju::{common::v1 as common, events::v1 as events};
pub use anju::{
    complaints::v1 as complaints, finance::v1 as finance, handover::v1 as handover,
    maintenance::v1 as maintenance, saga::v1 as saga, sales::v1 as sales, title::v1 as title,
};

/// Names an event payload type for the envelope's `event_type`.
pub trait EventPayload: prost::Message + Default {
    /// Fully qualified protobuf name, e.g. `anju.events.v1.UnitRegistered`.
    const EVENT_TYPE: &'static str;
}

macro_rules! event_payloads {
    ($($name:ident),* $(,)?) => {
        $(impl EventPayload for events::$name {
            const EVENT_TYPE: &'static str = concat!("anju.events.v1.", stringify!($name));
        })*
    };
}

event_payloads!(
    ProjectCreated,
    UnitRegistered,
    SubscriptionSigned,
    SubscriptionConfirmed,
    SubscriptionLapsed,
    ContractSigned,
    ContractCancelled,
    UnitAddedToBatch,
    InspectionRecorded,
    MoveInNoticeScheduled,
    KeysReleased,
    ChargeIssued,
    ChargeCancelled,
    PaymentRecorded,
    PaymentRefunded,
    SettlementGroupSettled,
    SettlementGroupReopened,
    SettlementGroupClosed,
    RepairRequested,
    RepairRequestClosed,
    WorkOrderAssigned,
    WorkOrderClockWarned,
    WorkOrderClockBreached,
    ContractorCharged,
    PartnerFeedItem,
    FundUseProposed,
    FundVoteClosed,
    FundUseApproved,
    FundTransferred,
    ComplaintRecorded,
    ComplaintRouted,
    ComplaintResolved,
    ComplaintFollowedUp,
    ComplaintClosed,
    ComplaintClockWarned,
    ComplaintClockBreached,
    UnitSurveyed,
    AreaDifferenceAssessed,
    BuyerChoiceRecorded,
    AreaDifferenceSettled,
    TitleDocumentsCompleted,
    TitleFeesAssessed,
    TitleFeesPaid,
    TitleApplicationSubmitted,
    TitleDeedIssued,
    TitleDeedDelivered,
    TitleFileClosed,
    TitleClockWarned,
    TitleClockBreached,
    Probe,
);

/// Fully qualified gRPC service names, as health and reflection report them.
pub mod service_names {
    pub const SALES: &str = "anju.sales.v1.SalesService";
    pub const FINANCE: &str = "anju.finance.v1.FinanceService";
    pub const HANDOVER: &str = "anju.handover.v1.HandoverService";
    pub const MAINTENANCE: &str = "anju.maintenance.v1.MaintenanceService";
    pub const COMPLAINTS: &str = "anju.complaints.v1.ComplaintsService";
    pub const TITLE: &str = "anju.title.v1.TitleService";
    pub const SAGA: &str = "anju.saga.v1.SagaService";

    /// Short service name → fully qualified gRPC service name.
    pub const ALL: [(&str, &str); 7] = [
        ("sales", SALES),
        ("finance", FINANCE),
        ("handover", HANDOVER),
        ("maintenance", MAINTENANCE),
        ("complaints", COMPLAINTS),
        ("title", TITLE),
        ("saga", SAGA),
    ];

    pub fn of(service: &str) -> Option<&'static str> {
        ALL.iter()
            .find(|(short, _)| *short == service)
            .map(|(_, full)| *full)
    }
}
