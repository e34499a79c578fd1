//! The two sides of a call.

use std::ops::{Index, IndexMut};

/// The two sides of a call, named from the initial INVITE. The caller is
/// recorded on the left channel, the callee on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    Caller,
    Callee,
}

impl Leg {
    pub const BOTH: [Leg; 2] = [Leg::Caller, Leg::Callee];

    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Callee,
            Leg::Callee => Leg::Caller,
        }
    }
}

/// One value for each leg of a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PerLeg<T> {
    pub caller: T,
    pub callee: T,
}

impl<T> PerLeg<T> {
    pub fn new(caller: T, callee: T) -> Self {
        PerLeg { caller, callee }
    }

    /// The same value on both legs.
    pub fn both(value: T) -> Self
    where
        T: Clone,
    {
        PerLeg {
            caller: value.clone(),
            callee: value,
        }
    }

    pub fn get(&self, leg: Leg) -> &T {
        match leg {
            Leg::Caller => &self.caller,
            Leg::Callee => &self.callee,
        }
    }

    pub fn get_mut(&mut self, leg: Leg) -> &mut T {
        match leg {
            Leg::Caller => &mut self.caller,
            Leg::Callee => &mut self.callee,
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(Leg, T) -> U) -> PerLeg<U> {
        PerLeg {
            caller: f(Leg::Caller, self.caller),
            callee: f(Leg::Callee, self.callee),
        }
    }

    pub fn as_ref(&self) -> PerLeg<&T> {
        PerLeg {
            caller: &self.caller,
            callee: &self.callee,
        }
    }

    /// Caller first, then callee.
    pub fn iter(&self) -> impl Iterator<Item = (Leg, &T)> {
        [(Leg::Caller, &self.caller), (Leg::Callee, &self.callee)].into_iter()
    }
}

impl<T> Index<Leg> for PerLeg<T> {
    type Output = T;
    fn index(&self, leg: Leg) -> &T {
        self.get(leg)
    }
}

impl<T> IndexMut<Leg> for PerLeg<T> {
    fn index_mut(&mut self, leg: Leg) -> &mut T {
        self.get_mut(leg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_leg_has_its_own_value() {
        let mut ports = PerLeg::new(4000, 4002);
        assert_eq!(ports[Leg::Caller], 4000);
        assert_eq!(ports[Leg::Callee.other()], 4000);
        ports[Leg::Callee] += 10;
        assert_eq!(ports.map(|_, port| port + 1), PerLeg::new(4001, 4013));
        let legs: Vec<Leg> = PerLeg::both(()).iter().map(|(leg, _)| leg).collect();
        assert_eq!(legs, Leg::BOTH);
    }
}
