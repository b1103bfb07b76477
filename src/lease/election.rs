//! The pure rules of leader election on a Lease: what a candidate does after each read, and
//! until when a holder may act. No IO, no clock: time is what the caller says it is (a
//! monotonic reading of this process), so the rules are tested as tables and as a model.
//!
//! The rules (those of client-go's leaderelection, with the holder's deadline local):
//! - A candidate may take the Lease when it is free (no holder), or when the record it read
//!   (identified by its `resourceVersion`) has stayed the same for a whole lease duration of
//!   *this process's* clock since it first saw it — its own or the record's
//!   `leaseDurationSeconds`, whichever is longer (a replica of a new release with shorter timing
//!   must not cut an old leader short). The write carries that `resourceVersion`, so it fails if
//!   anyone wrote in between.
//! - The holder renews every `retry`; it is the leader only until `renew_deadline` after the
//!   start of its last successful write, and not at all once it reads a record that is not its
//!   own last write (the Lease deleted, or written by someone else).
//!
//! Why two replicas never act at once, with no synchronised clocks (only clocks that run at
//! about the same rate): a write that succeeded was started at `s` and committed at `c ≥ s`.
//! Any other candidate can have read that record only after `c`, and must wait `lease_duration`
//! from then, so it takes over no sooner than `c + lease_duration`. The holder stopped at
//! `s + renew_deadline < s + lease_duration ≤ c + lease_duration`. A candidate that read an
//! older record writes with an older `resourceVersion` and is refused. The gap
//! `lease_duration − renew_deadline` absorbs clock-rate differences and writes still in flight.
//! The one thing outside these rules is a person deleting or clearing the Lease by hand: a
//! standby may then take it at once, and the holder stops at its next read (within `retry`).

use std::time::Duration;

/// Timing of an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long others wait on an unchanged record before they take the Lease.
    pub lease_duration: Duration,
    /// How long after the start of its last successful write the holder is the leader.
    pub renew_deadline: Duration,
    /// How often the holder renews and a candidate looks.
    pub retry: Duration,
}

impl Timing {
    /// The timing, if it is safe: `retry < renew_deadline < lease_duration`.
    pub fn new(
        lease_duration: Duration,
        renew_deadline: Duration,
        retry: Duration,
    ) -> Result<Self, String> {
        if retry.is_zero() || retry >= renew_deadline || renew_deadline >= lease_duration {
            return Err(format!(
                "leader election needs 0 < retry ({}s) < renew deadline ({}s) < lease duration ({}s)",
                retry.as_secs_f64(),
                renew_deadline.as_secs_f64(),
                lease_duration.as_secs_f64()
            ));
        }
        Ok(Self {
            lease_duration,
            renew_deadline,
            retry,
        })
    }
}

/// What a read of the Lease showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `spec.holderIdentity`; `None` (or empty) when released.
    pub holder: Option<String>,
    /// `metadata.resourceVersion`: changes with every write.
    pub version: String,
    /// `spec.leaseDurationSeconds`: how long its writer asks others to wait.
    pub duration: Option<Duration>,
}

/// What the candidate does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// There is no Lease: create it, holding it.
    Create,
    /// Write the Lease as its holder (taking it, or renewing it), conditional on `version`.
    Write {
        /// The `resourceVersion` the write must match.
        version: String,
        /// Whether the holder changes (a transition is counted).
        transition: bool,
    },
    /// Someone else holds it: look again later.
    Wait,
}

/// One candidate's view: the record it last saw and since when, and its own deadline.
#[derive(Clone, Debug)]
pub struct Election {
    identity: String,
    timing: Timing,
    /// The record last seen and when it was first seen (this process's clock).
    observed: Option<(Record, Duration)>,
    /// Leader until then (exclusive); `None`: not the leader.
    leading_until: Option<Duration>,
}

impl Election {
    /// A candidate named `identity`.
    pub fn new(identity: impl Into<String>, timing: Timing) -> Self {
        Self {
            identity: identity.into(),
            timing,
            observed: None,
            leading_until: None,
        }
    }

    /// The candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The timing.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Whether this candidate is the leader at `now`.
    pub fn is_leader(&self, now: Duration) -> bool {
        self.leading_until.is_some_and(|until| now < until)
    }

    /// Until when it leads (`None` when it does not).
    pub fn leading_until(&self) -> Option<Duration> {
        self.leading_until
    }

    /// What to do after reading `record` (`None`: no Lease exists) at `now`.
    pub fn next(&mut self, now: Duration, record: Option<Record>) -> Step {
        let own_last_write = self
            .observed
            .as_ref()
            .filter(|_| self.leading_until.is_some())
            .map(|(seen, _)| seen.version.clone());
        if own_last_write.is_some()
            && record.as_ref().map(|r| &r.version) != own_last_write.as_ref()
        {
            // Someone else changed or deleted the Lease since this replica's last write: it can
            // no longer know who else leads, so it does not.
            self.leading_until = None;
        }
        let Some(record) = record else {
            return Step::Create;
        };
        let first_seen = match &self.observed {
            Some((seen, since)) if seen.version == record.version => *since,
            _ => now,
        };
        let wait = record.duration.map_or(self.timing.lease_duration, |d| {
            d.max(self.timing.lease_duration)
        });
        self.observed = Some((record.clone(), first_seen));
        let holder = record.holder.as_deref().filter(|h| !h.is_empty());
        match holder {
            Some(holder) if holder == self.identity => Step::Write {
                version: record.version,
                transition: false,
            },
            None => Step::Write {
                version: record.version,
                transition: true,
            },
            Some(_) if now.saturating_sub(first_seen) >= wait => Step::Write {
                version: record.version,
                transition: true,
            },
            Some(_) => {
                // Someone else leads: whatever this process thought, it does not.
                self.leading_until = None;
                Step::Wait
            }
        }
    }

    /// A write as holder, started at `started`, succeeded and left the Lease at `version`.
    pub fn written(&mut self, started: Duration, version: String) {
        self.observed = Some((
            Record {
                holder: Some(self.identity.clone()),
                version,
                duration: Some(self.timing.lease_duration),
            },
            started,
        ));
        self.leading_until = Some(started + self.timing.renew_deadline);
    }

    /// A write failed (conflict or error): the deadline of the last success still stands, and
    /// the record must be read again.
    pub fn write_failed(&mut self) {
        self.observed = None;
    }

    /// Leadership given up (released, or lost): not the leader from now on.
    pub fn resign(&mut self) {
        self.leading_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn timing() -> Timing {
        Timing::new(s(10), s(7), s(2)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rec(holder: Option<&str>, version: &str) -> Option<Record> {
        Some(Record {
            holder: holder.map(str::to_owned),
            version: version.to_owned(),
            duration: Some(s(10)),
        })
    }

    fn write(version: &str, transition: bool) -> Step {
        Step::Write {
            version: version.to_owned(),
            transition,
        }
    }

    #[test]
    fn unsafe_timings_are_refused() {
        for (lease, renew, retry) in [(10, 10, 2), (10, 12, 2), (10, 7, 7), (10, 7, 0)] {
            assert!(
                Timing::new(s(lease), s(renew), s(retry)).is_err(),
                "{lease}/{renew}/{retry}"
            );
        }
        assert!(Timing::new(s(15), s(10), s(2)).is_ok());
    }

    #[test]
    fn a_candidate_takes_a_missing_or_free_lease_at_once() {
        let mut e = Election::new("a", timing());
        assert_eq!(e.next(s(0), None), Step::Create);
        assert_eq!(e.next(s(0), rec(None, "1")), write("1", true));
        assert_eq!(e.next(s(0), rec(Some(""), "2")), write("2", true));
        assert!(!e.is_leader(s(0)), "leader only after the write succeeded");
    }

    #[test]
    fn another_holder_is_waited_out_for_a_whole_lease_duration_of_an_unchanged_record() {
        let mut e = Election::new("b", timing());
        // Table: (now, record version, expected step).
        let table = [
            (0, "5", Step::Wait),
            (9, "5", Step::Wait),
            (10, "5", write("5", true)),
            // The holder renewed: the wait starts again from when the new record was seen.
            (11, "6", Step::Wait),
            (20, "6", Step::Wait),
            (21, "6", write("6", true)),
        ];
        for (now, version, expected) in table {
            assert_eq!(e.next(s(now), rec(Some("a"), version)), expected, "t={now}");
        }
    }

    #[test]
    fn the_holder_leads_until_the_renew_deadline_after_its_last_successful_write() {
        let mut e = Election::new("a", timing());
        assert_eq!(e.next(s(0), None), Step::Create);
        e.written(s(0), "1".into());
        assert!(e.is_leader(s(0)) && e.is_leader(s(6)) && !e.is_leader(s(7)));
        assert_eq!(e.next(s(2), rec(Some("a"), "1")), write("1", false));
        e.written(s(2), "2".into());
        assert!(e.is_leader(s(8)));
        // Renewals fail from now on: the deadline of the last success stands.
        e.write_failed();
        assert!(e.is_leader(s(8)) && !e.is_leader(s(9)));
    }

    #[test]
    fn a_crashed_holder_is_replaced_once_its_record_went_unchanged_for_a_lease_duration() {
        let (mut a, mut b) = (Election::new("a", timing()), Election::new("b", timing()));
        assert_eq!(a.next(s(0), None), Step::Create);
        a.written(s(0), "1".into());
        assert_eq!(b.next(s(1), rec(Some("a"), "1")), Step::Wait);
        assert_eq!(a.next(s(2), rec(Some("a"), "1")), write("1", false));
        a.written(s(2), "2".into());
        // a is killed here; b sees the last renewal at 3 s and takes over 10 s later.
        assert_eq!(b.next(s(3), rec(Some("a"), "2")), Step::Wait);
        assert_eq!(b.next(s(12), rec(Some("a"), "2")), Step::Wait);
        assert_eq!(b.next(s(13), rec(Some("a"), "2")), write("2", true));
        b.written(s(13), "3".into());
        assert!(b.is_leader(s(13)));
        assert!(
            !a.is_leader(s(9)),
            "a's deadline (2 s + 7 s) passed before b took over"
        );
    }

    #[test]
    fn a_holder_that_sees_another_holder_stops_leading() {
        let mut e = Election::new("a", timing());
        e.written(s(0), "1".into());
        assert_eq!(e.next(s(1), rec(Some("b"), "2")), Step::Wait);
        assert!(!e.is_leader(s(1)));
    }

    #[test]
    fn a_longer_lease_duration_in_the_record_is_waited_out() {
        let mut e = Election::new("b", timing());
        let long = Some(Record {
            holder: Some("a".into()),
            version: "5".into(),
            duration: Some(s(30)),
        });
        assert_eq!(e.next(s(0), long.clone()), Step::Wait);
        assert_eq!(
            e.next(s(10), long.clone()),
            Step::Wait,
            "its own 10 s are not enough"
        );
        assert_eq!(e.next(s(30), long), write("5", true));
    }

    #[test]
    fn a_holder_that_reads_anything_but_its_own_last_write_stops_leading() {
        let mut e = Election::new("a", timing());
        e.written(s(0), "1".into());
        // Deleted by hand: not the leader any more, even before its deadline.
        assert_eq!(e.next(s(1), None), Step::Create);
        assert!(!e.is_leader(s(1)));
        e.written(s(1), "2".into());
        // Cleared by hand (holder gone, another version).
        assert_eq!(e.next(s(2), rec(None, "7")), write("7", true));
        assert!(!e.is_leader(s(2)));
        e.written(s(2), "8".into());
        // Its own last write read back: still the leader.
        assert_eq!(e.next(s(3), rec(Some("a"), "8")), write("8", false));
        assert!(e.is_leader(s(3)));
    }

    /// A model of the apiserver and two candidates (with different timings, as during a rolling
    /// upgrade that changes them) whose reads and writes interleave at random, with random
    /// delays, stalls, crashes and clocks that disagree by an hour: after every event, at most
    /// one candidate considers itself the leader. It models clock offsets, not clock rates, and
    /// a crashed candidate's write in flight lands at once.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

        /// The Lease as the apiserver holds it.
        #[derive(Default)]
        struct Server {
            exists: bool,
            holder: Option<String>,
            version: u64,
            duration: Option<Duration>,
        }

        impl Server {
            fn read(&self) -> Option<Record> {
                self.exists.then(|| Record {
                    holder: self.holder.clone(),
                    version: self.version.to_string(),
                    duration: self.duration,
                })
            }

            /// Applies a write by `who` (with `timing`): created, or conditional on the version.
            fn write(&mut self, who: &str, timing: Timing, step: &Step) -> Option<String> {
                let allowed = match step {
                    Step::Create => !self.exists,
                    Step::Write { version, .. } => {
                        self.exists && *version == self.version.to_string()
                    }
                    Step::Wait => false,
                };
                allowed.then(|| {
                    self.exists = true;
                    self.holder = Some(who.to_owned());
                    self.duration = Some(timing.lease_duration);
                    self.version += 1;
                    self.version.to_string()
                })
            }
        }

        /// Where a candidate is in its loop.
        enum Phase {
            Idle,
            InFlight {
                step: Step,
                started: Duration,
            },
            Answered {
                result: Option<String>,
                started: Duration,
            },
        }

        #[derive(Clone, Debug)]
        enum Op {
            /// Candidate `who` takes a step of its loop after each of `delays` (ms), while the
            /// other one is silent (stalled, partitioned, slow): long runs of one side are
            /// where an overlap would show.
            Run { who: usize, delays: Vec<u64> },
            /// Candidate `who` crashes and restarts with a fresh view (a write it had in
            /// flight lands).
            Crash { who: usize },
        }

        fn ops() -> impl Strategy<Value = Vec<Op>> {
            let op = prop_oneof![
                12 => (0usize..2, proptest::collection::vec(prop_oneof![0u64..300, 1_800u64..2_200, 0u64..12_000], 1..16))
                    .prop_map(|(who, delays)| Op::Run { who, delays }),
                1 => (0usize..2).prop_map(|who| Op::Crash { who }),
            ];
            proptest::collection::vec(op, 1..100)
        }

        /// One step of a candidate's loop: read and decide (at the instant of the read: the
        /// most adversarial timing, the wait on a record starts as early as it can); the write
        /// reaches the server; its answer comes back.
        fn step(cand: &mut Election, server: &mut Server, phase: Phase, local: Duration) -> Phase {
            match phase {
                Phase::Idle => match cand.next(local, server.read()) {
                    Step::Wait => Phase::Idle,
                    step => Phase::InFlight {
                        step,
                        started: local,
                    },
                },
                Phase::InFlight { step, started } => Phase::Answered {
                    result: server.write(cand.identity(), cand.timing(), &step),
                    started,
                },
                Phase::Answered {
                    result: Some(version),
                    started,
                } => {
                    cand.written(started, version);
                    Phase::Idle
                }
                Phase::Answered { result: None, .. } => {
                    cand.write_failed();
                    Phase::Idle
                }
            }
        }

        /// Runs `ops`; the first real time at which both candidates lead, if any.
        fn overlap(ops: &[Op], timings: [Timing; 2]) -> Option<Duration> {
            let names = ["a", "b"];
            // Each candidate's clock: the real time plus its own offset.
            let offsets = [s(0), s(3_600)];
            let mut server = Server::default();
            let mut cands = [0, 1].map(|i| Election::new(names[i], timings[i]));
            let mut phases = [Phase::Idle, Phase::Idle];
            let mut real = s(0);
            for op in ops {
                match op {
                    Op::Crash { who } => {
                        let who = *who;
                        if let Phase::InFlight { step, .. } = &phases[who] {
                            server.write(names[who], timings[who], step);
                        }
                        cands[who] = Election::new(names[who], timings[who]);
                        phases[who] = Phase::Idle;
                    }
                    Op::Run { who, delays } => {
                        for ms in delays {
                            real += Duration::from_millis(*ms);
                            let phase = std::mem::replace(&mut phases[*who], Phase::Idle);
                            phases[*who] =
                                step(&mut cands[*who], &mut server, phase, real + offsets[*who]);
                            if (0..2).all(|i| cands[i].is_leader(real + offsets[i])) {
                                return Some(real);
                            }
                        }
                    }
                }
            }
            None
        }

        fn short() -> Timing {
            Timing::new(s(5), s(3), s(1)).unwrap_or_else(|e| panic!("{e}"))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1_000))]
            #[test]
            fn two_candidates_never_lead_at_once(ops in ops()) {
                prop_assert_eq!(overlap(&ops, [timing(), timing()]), None);
            }

            #[test]
            fn nor_with_different_timings(ops in ops()) {
                prop_assert_eq!(overlap(&ops, [timing(), short()]), None);
            }

            #[test]
            fn a_lone_candidate_becomes_and_stays_leader(rounds in 3usize..50) {
                let mut server = Server::default();
                let mut e = Election::new("a", timing());
                for round in 0..rounds {
                    let now = s(2) * round as u32;
                    let step = e.next(now, server.read());
                    let version = server.write("a", timing(), &step);
                    prop_assert!(version.is_some(), "round {round}: {step:?}");
                    e.written(now, version.unwrap_or_default());
                    prop_assert!(e.is_leader(now + s(1)));
                }
            }
        }

        /// The model can fail: with a holder deadline 2 s longer than the lease duration (which
        /// `Timing::new` refuses), it finds two leaders.
        #[test]
        fn the_model_finds_two_leaders_when_the_deadline_outlives_the_lease() {
            let unsafe_timing = Timing {
                lease_duration: s(10),
                renew_deadline: s(12),
                retry: s(2),
            };
            let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
            let mut runner = TestRunner::new_with_rng(Config::with_cases(1_000), rng);
            let found = runner.run(&ops(), |ops| {
                prop_assert_eq!(overlap(&ops, [unsafe_timing, unsafe_timing]), None);
                Ok(())
            });
            assert!(
                found.is_err(),
                "the model missed an unsafe timing: it proves nothing"
            );
        }
    }
}
