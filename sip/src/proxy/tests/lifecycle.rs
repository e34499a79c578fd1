//! A property of the proxy core: whatever order calls' messages and timers come
//! in (INVITEs reusing Call-IDs, answers, CANCEL, BYE from either side, missing
//! ACKs, silence, the gateway hanging up, transport errors), every call that
//! started ends exactly once, and once time has run nothing stays: no dialog, no
//! transaction. The application frees a call's ports, relay and directory entry on
//! its end, so this is what keeps them from leaking.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Step {
    /// The PBX calls: Call-IDs and From tags are drawn from small sets, so they
    /// are reused.
    Invite {
        call_id: u8,
        tag: u8,
    },
    /// The carrier answers one of the INVITEs it got.
    Respond {
        invite: u8,
        code: u16,
    },
    Cancel {
        invite: u8,
    },
    Ack {
        invite: u8,
    },
    Bye {
        invite: u8,
        by_callee: bool,
    },
    /// A peer answers a request the proxy sent it (BYE, CANCEL, ...).
    Answer {
        request: u8,
        code: u16,
    },
    /// The application ends a call (media timeout).
    HangUp {
        call: u8,
    },
    /// The transport cannot reach one side (a refused connection, an ICMP error).
    TransportError {
        towards_callee: bool,
    },
    Advance {
        millis: u32,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3u8, 0..2u8).prop_map(|(call_id, tag)| Step::Invite { call_id, tag }),
        4 => (any::<u8>(), prop::sample::select(vec![180u16, 183, 200, 486, 487, 503]))
            .prop_map(|(invite, code)| Step::Respond { invite, code }),
        1 => any::<u8>().prop_map(|invite| Step::Cancel { invite }),
        2 => any::<u8>().prop_map(|invite| Step::Ack { invite }),
        2 => (any::<u8>(), any::<bool>())
            .prop_map(|(invite, by_callee)| Step::Bye { invite, by_callee }),
        2 => (any::<u8>(), prop::sample::select(vec![200u16, 481, 500]))
            .prop_map(|(request, code)| Step::Answer { request, code }),
        1 => any::<u8>().prop_map(|call| Step::HangUp { call }),
        1 => any::<bool>().prop_map(|towards_callee| Step::TransportError { towards_callee }),
        2 => (0..40_000u32).prop_map(|millis| Step::Advance { millis }),
    ]
}

/// An INVITE the PBX sent, and what the carrier made of it.
struct Sent {
    call_id: String,
    tag: String,
    branch: String,
    /// As the carrier received it.
    forwarded: Option<Message>,
    /// The To tag the carrier answers with.
    callee_tag: String,
}

struct World {
    h: Harness,
    invites: Vec<Sent>,
    /// Requests the proxy sent to a peer, other than initial INVITEs and ACKs.
    requests: Vec<(Peer, Message)>,
    counter: u32,
}

impl World {
    fn new() -> World {
        World {
            h: Harness::new(),
            invites: Vec::new(),
            requests: Vec::new(),
            counter: 0,
        }
    }

    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    /// Notes what the proxy sent to the peers.
    fn absorb(&mut self, outputs: Vec<(Peer, Message)>) {
        for (peer, message) in outputs {
            let Some(method) = message.method() else {
                continue;
            };
            let initial_invite = *method == Method::Invite && message.to_tag().is_none();
            if initial_invite {
                let sent = self.invites.iter_mut().find(|sent| {
                    message.call_id() == Some(sent.call_id.as_str())
                        && message.from_tag() == Some(sent.tag.as_str())
                        && sent.forwarded.is_none()
                });
                if let Some(sent) = sent {
                    sent.forwarded = Some(message);
                }
            } else if *method != Method::Ack {
                self.requests.push((peer, message));
            }
        }
    }

    fn receive(&mut self, from: Peer, text: &str) {
        let out = self.h.receive(from, text);
        self.absorb(out);
    }

    fn pick(&self, index: u8) -> Option<&Sent> {
        (!self.invites.is_empty()).then(|| &self.invites[usize::from(index) % self.invites.len()])
    }

    fn run(&mut self, step: &Step) {
        match *step {
            Step::Invite { call_id, tag } => {
                let n = self.next();
                let call_id = format!("prop-{call_id}");
                let tag = format!("t{tag}");
                let branch = format!("z9hG4bK-p{n}");
                let text = invite(&call_id, &branch).replace("tag=caller", &format!("tag={tag}"));
                self.invites.push(Sent {
                    call_id,
                    tag,
                    branch,
                    forwarded: None,
                    callee_tag: format!("c{n}"),
                });
                self.receive(udp(PBX), &text);
            }
            Step::Respond { invite, code } => {
                let Some(reply) = self.pick(invite).and_then(|sent| {
                    let forwarded = sent.forwarded.as_ref()?;
                    Some(answer(forwarded, code, &sent.callee_tag, ""))
                }) else {
                    return;
                };
                self.receive(udp(CARRIER), &reply);
            }
            Step::Cancel { invite } => {
                let Some(text) = self.pick(invite).map(|sent| {
                    cancel_of(&sent.call_id, &sent.branch)
                        .replace("tag=caller", &format!("tag={}", sent.tag))
                }) else {
                    return;
                };
                self.receive(udp(PBX), &text);
            }
            Step::Ack { invite } => {
                let n = self.next();
                let Some(text) = self.pick(invite).map(|sent| {
                    let branch = format!("z9hG4bK-a{n}");
                    request_between(
                        (PBX, CARRIER),
                        "ACK",
                        1,
                        &sent.call_id,
                        (&sent.tag, &sent.callee_tag),
                        &branch,
                    )
                }) else {
                    return;
                };
                self.receive(udp(PBX), &text);
            }
            Step::Bye { invite, by_callee } => {
                let n = self.next();
                let Some((from, text)) = self.pick(invite).map(|sent| {
                    let branch = format!("z9hG4bK-b{n}");
                    let (call_id, tag, callee) = (&sent.call_id, &sent.tag, &sent.callee_tag);
                    if by_callee {
                        let bye = request_between(
                            (CARRIER, PBX),
                            "BYE",
                            n + 100,
                            call_id,
                            (callee, tag),
                            &branch,
                        );
                        (udp(CARRIER), bye)
                    } else {
                        let bye = request_between(
                            (PBX, CARRIER),
                            "BYE",
                            n + 100,
                            call_id,
                            (tag, callee),
                            &branch,
                        );
                        (udp(PBX), bye)
                    }
                }) else {
                    return;
                };
                self.receive(from, &text);
            }
            Step::Answer { request, code } => {
                if self.requests.is_empty() {
                    return;
                }
                let (peer, message) = &self.requests[usize::from(request) % self.requests.len()];
                let (from, reply) = (*peer, answer(message, code, "x", ""));
                self.receive(from, &reply);
            }
            Step::HangUp { call } => {
                let calls = started(&self.h.policy.events);
                if calls.is_empty() {
                    return;
                }
                let dialog = calls[usize::from(call) % calls.len()];
                self.hang_up(dialog);
            }
            Step::TransportError { towards_callee } => {
                let peer = if towards_callee {
                    udp(CARRIER)
                } else {
                    udp(PBX)
                };
                let now = self.h.now;
                self.h
                    .proxy
                    .handle_transport_error(now, peer, &mut self.h.policy);
                let out = self.h.outputs();
                self.absorb(out);
            }
            Step::Advance { millis } => {
                let out = self.h.advance(Duration::from_millis(u64::from(millis)));
                self.absorb(out);
            }
        }
    }

    fn hang_up(&mut self, dialog: DialogId) {
        let now = self.h.now;
        self.h.proxy.hang_up(now, dialog, &mut self.h.policy);
        let out = self.h.outputs();
        self.absorb(out);
    }
}

proptest! {

    #[test]
    fn every_call_ends_exactly_once_and_nothing_stays(steps in prop::collection::vec(step(), 1..40)) {
        let mut world = World::new();
        for step in &steps {
            world.run(step);
        }
        // Ringing calls are cancelled (Timer C), unacknowledged ones hung up, and
        // the timers of every transaction run out.
        let out = world.h.advance(Duration::from_secs(300));
        world.absorb(out);
        // What is still up was answered and acknowledged: the application ends
        // those (media timeout) as it would.
        let ended_ids: Vec<DialogId> = ended(&world.h.policy.events).iter().map(|(id, _)| *id).collect();
        for dialog in started(&world.h.policy.events) {
            if !ended_ids.contains(&dialog) {
                world.hang_up(dialog);
            }
        }
        let out = world.h.advance(Duration::from_secs(300));
        world.absorb(out);

        prop_assert_eq!(world.h.proxy.dialog_count(), 0);
        prop_assert_eq!(world.h.proxy.transaction_count(), 0);
        let mut ends: BTreeMap<DialogId, usize> = BTreeMap::new();
        for (dialog, _) in ended(&world.h.policy.events) {
            *ends.entry(dialog).or_default() += 1;
        }
        let calls = started(&world.h.policy.events);
        for dialog in &calls {
            prop_assert_eq!(ends.get(dialog).copied(), Some(1), "{:?} ends once", dialog);
        }
        prop_assert_eq!(ends.len(), calls.len(), "no end without a start");
    }
}
