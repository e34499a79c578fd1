//! Whether a call is recorded (DESIGN.md step 4): the tenant's policy, minus the
//! numbers on its do-not-record list (a data subject's objection), and never when
//! its recording retention is zero.

use greffier_sip::proxy::Direction;

use crate::config::{RecordingPolicy, Tenant, E164};

pub fn should_record(
    tenant: &Tenant,
    direction: Direction,
    caller: Option<&str>,
    callee: Option<&str>,
) -> bool {
    if tenant.retention.recordings_days == 0 {
        return false;
    }
    let by_policy = match tenant.recording.policy {
        RecordingPolicy::All => true,
        RecordingPolicy::None => false,
        RecordingPolicy::Inbound => direction == Direction::Inbound,
        RecordingPolicy::Outbound => direction == Direction::Outbound,
    };
    let objected = [caller, callee].into_iter().flatten().any(|party| {
        E164::normalise(party).is_some_and(|number| {
            tenant
                .recording
                .do_not_record
                .iter()
                .any(|listed| listed == &number)
        })
    });
    by_policy && !objected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn demo() -> Tenant {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/local.toml");
        let config = Config::load(&path).expect("the example configuration loads");
        config.tenant("demo").expect("the demo tenant").clone()
    }

    #[test]
    fn policy_all_records_both_directions() {
        let tenant = demo();
        assert!(should_record(
            &tenant,
            Direction::Outbound,
            Some("+33199000001"),
            Some("service")
        ));
        assert!(should_record(&tenant, Direction::Inbound, None, None));
    }

    #[test]
    fn directional_policies_and_none() {
        let mut tenant = demo();
        tenant.recording.policy = RecordingPolicy::Inbound;
        assert!(should_record(&tenant, Direction::Inbound, None, None));
        assert!(!should_record(&tenant, Direction::Outbound, None, None));
        tenant.recording.policy = RecordingPolicy::Outbound;
        assert!(!should_record(&tenant, Direction::Inbound, None, None));
        assert!(should_record(&tenant, Direction::Outbound, None, None));
        tenant.recording.policy = RecordingPolicy::None;
        assert!(!should_record(&tenant, Direction::Outbound, None, None));
    }

    #[test]
    fn an_objecting_number_is_never_recorded_either_way() {
        let tenant = demo();
        let objector = tenant.recording.do_not_record[0].expose().to_string();
        assert!(!should_record(
            &tenant,
            Direction::Outbound,
            Some(&objector),
            Some("+33199000001")
        ));
        let without_plus = objector.trim_start_matches('+').to_string();
        assert!(!should_record(
            &tenant,
            Direction::Inbound,
            Some("+33199000002"),
            Some(&without_plus)
        ));
    }

    #[test]
    fn zero_retention_means_never_record() {
        let mut tenant = demo();
        tenant.retention.recordings_days = 0;
        assert!(!should_record(&tenant, Direction::Outbound, None, None));
    }
}
