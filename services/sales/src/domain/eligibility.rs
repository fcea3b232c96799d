//! Local purchase eligibility (限購): cities differ, each project picks its rule (seed ①
//! step 6; the city's purchase-restriction policy).

/// What the counter knows about a buyer when the contract is signed.
pub struct Buyer {
    pub homes_owned: i32,
}

/// A local purchase-eligibility rule (限購). Cities differ; each project picks its rule.
pub trait Eligibility {
    /// `Err` says why the buyer may not buy.
    fn check(&self, buyer: &Buyer) -> Result<(), String>;
}

/// No restriction.
pub struct Unrestricted;

impl Eligibility for Unrestricted {
    fn check(&self, _: &Buyer) -> Result<(), String> {
        Ok(())
    }
}

/// A buyer may already own at most this many homes in the city.
pub struct MaxHomesOwned(pub i32);

impl Eligibility for MaxHomesOwned {
    fn check(&self, buyer: &Buyer) -> Result<(), String> {
        if buyer.homes_owned > self.0 {
            Err(format!(
                "purchase restriction: the buyer owns {} homes, this project allows buyers with at most {}",
                buyer.homes_owned, self.0
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_count_restriction() {
        let rule = MaxHomesOwned(1);
        assert!(rule.check(&Buyer { homes_owned: 1 }).is_ok());
        let refusal = rule.check(&Buyer { homes_owned: 2 }).unwrap_err();
        assert!(refusal.contains("owns 2 homes"));
        assert!(Unrestricted.check(&Buyer { homes_owned: 9 }).is_ok());
    }
}
