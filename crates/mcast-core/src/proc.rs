//! Parsers for Linux's `/proc/net/igmp` and `/proc/net/igmp6`: text in, memberships out.
//!
//! The adapter reads the file; this module only reads the `&str`. Parsing never panics: a line
//! that cannot be understood is skipped and reported in [`ProcMemberships::errors`], and the rest
//! of the file is still used.
//!
//! # `/proc/net/igmp`
//!
//! One header line, then for each interface an interface line followed by one indented line per
//! group (Linux `net/ipv4/igmp.c`, `igmp_mc_seq_show`):
//!
//! ```text
//! Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
//! 1\tlo        :     3      V3
//! \t\t\t\t050101E0     1 0:00000000\t\t0
//! \t\t\t\t010000E0     1 0:00000000\t\t0
//! ```
//!
//! | field | format | meaning |
//! |---|---|---|
//! | Idx, Device | `%d\t%-10s:` | interface index and name |
//! | Count | `%5d` | groups joined on the interface |
//! | Querier | `%7s` | IGMP version in use (`V1`, `V2`, `V3`) |
//! | Group | `%08X` | the `__be32` address printed as a host integer (see below) |
//! | Users | `%5d` | sockets (and kernel users) holding the membership |
//! | Timer | `%d:%08lX` | report timer running (0/1) : jiffies left |
//! | Reporter | `%d` | 1 if this host sent the last report |
//!
//! **Endianness:** the group is stored in network byte order and printed as a native-endian
//! `u32`, so the hex is the address's bytes *in host order*: on x86 (little-endian) `010000E0`
//! is `224.0.0.1` and `050101E0` is `224.1.1.5`; on a big-endian host the same groups read
//! `E0000001` and `E0010105`. [`parse_igmp`] decodes for the host it runs on (the file always
//! comes from the local kernel); [`parse_igmp_with`] takes the byte order explicitly.
//!
//! # `/proc/net/igmp6`
//!
//! One line per membership, no header (`net/ipv6/mcast.c`, `igmp6_mc_seq_show`,
//! `"%-4d %-15s %pi6 %5d %08X %ld"`): interface index, name, group as 32 hex digits (network
//! order, so no endianness question), users, `MAF_*` flags in hex, and the timer in clock ticks.
//!
//! ```text
//! 1    lo              ff150000000000000000000000000001     1 00000004 0
//! ```
//!
//! # Example
//!
//! ```
//! use mcast_core::proc;
//!
//! let text = "1    lo              ff150000000000000000000000000001     1 00000004 0\n";
//! let parsed = proc::parse_igmp6(text);
//! assert!(parsed.errors.is_empty());
//! assert_eq!(parsed.interfaces[0].name, "lo");
//! assert_eq!(parsed.interfaces[0].groups[0].group.to_string(), "ff15::1");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::addr::Group;

/// The byte order of the host whose kernel wrote a `/proc/net/igmp` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little-endian (x86, most ARM).
    Little,
    /// Big-endian (s390x, some PowerPC and MIPS).
    Big,
}

impl Endian {
    /// The byte order of the machine this code runs on.
    pub const HOST: Self = if cfg!(target_endian = "big") {
        Self::Big
    } else {
        Self::Little
    };
}

/// The groups joined on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct IfaceMemberships {
    /// Interface index.
    pub index: u32,
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// The `Count` column of `/proc/net/igmp` (groups joined); `None` for `igmp6`.
    pub count: Option<u32>,
    /// The IGMP version in use on the interface (`Querier` column `V3` → 3); `None` for `igmp6`.
    pub igmp_version: Option<u8>,
    /// The groups, in file order.
    pub groups: Vec<Membership>,
}

/// One group joined on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Membership {
    /// The group.
    pub group: Group,
    /// How many users (sockets, kernel) hold the membership.
    pub users: u32,
    /// Whether a report timer is running (`igmp`: the `Timer` column's first number; `igmp6`:
    /// the `MAF_TIMER_RUNNING` flag, 0x1).
    pub timer_running: bool,
    /// Time left on the timer: jiffies for `igmp`, clock ticks for `igmp6`.
    pub timer: i64,
    /// `igmp` only: whether this host sent the last report for the group.
    pub reporter: Option<bool>,
    /// `igmp6` only: the raw `MAF_*` flags (0x2 last reporter, 0x4 no report, 0x8 gsquery).
    pub flags: Option<u32>,
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[error("line {line}: {reason}: {text:?}")]
#[non_exhaustive]
pub struct ProcError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: &'static str,
    /// The line as read (cut to 200 characters).
    pub text: String,
}

/// The result of parsing one file: what could be read, and what could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ProcMemberships {
    /// Interfaces in file order, each with its groups.
    pub interfaces: Vec<IfaceMemberships>,
    /// Lines that were skipped, with the reason.
    pub errors: Vec<ProcError>,
}

impl ProcMemberships {
    /// Every `(interface, membership)` pair.
    pub fn memberships(&self) -> impl Iterator<Item = (&IfaceMemberships, &Membership)> + '_ {
        self.interfaces
            .iter()
            .flat_map(|i| i.groups.iter().map(move |m| (i, m)))
    }

    /// The interface called `name`, if it is listed.
    pub fn interface(&self, name: &str) -> Option<&IfaceMemberships> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// Whether `group` is joined on the interface called `name`.
    pub fn is_joined(&self, name: &str, group: Group) -> bool {
        self.interface(name)
            .is_some_and(|i| i.groups.iter().any(|m| m.group == group))
    }

    fn error(&mut self, line: usize, reason: &'static str, text: &str) {
        self.errors.push(ProcError {
            line,
            reason,
            text: text.chars().take(200).collect(),
        });
    }

    /// The position in `interfaces` of interface `index`, created (named `name`) if missing.
    fn iface_pos(&mut self, index: u32, name: &str) -> usize {
        if let Some(pos) = self
            .interfaces
            .iter()
            .position(|i| i.index == index && i.name == name)
        {
            return pos;
        }
        self.interfaces.push(IfaceMemberships {
            index,
            name: name.to_owned(),
            count: None,
            igmp_version: None,
            groups: Vec::new(),
        });
        self.interfaces.len() - 1
    }
}

/// Parses `/proc/net/igmp` as written by this host's kernel (see the module doc on endianness).
pub fn parse_igmp(text: &str) -> ProcMemberships {
    parse_igmp_with(text, Endian::HOST)
}

/// Parses `/proc/net/igmp` written by a kernel of byte order `endian`.
///
/// ```
/// use mcast_core::proc::{parse_igmp_with, Endian};
///
/// let text = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
///             1\tlo        :     2      V3\n\
///             \t\t\t\t050101E0     1 0:00000000\t\t0\n\
///             \t\t\t\t010000E0     1 0:00000000\t\t0\n";
/// let p = parse_igmp_with(text, Endian::Little);
/// assert!(p.errors.is_empty());
/// let lo = &p.interfaces[0];
/// assert_eq!((lo.index, lo.name.as_str(), lo.igmp_version), (1, "lo", Some(3)));
/// assert_eq!(lo.groups[0].group.to_string(), "224.1.1.5");
/// assert_eq!(lo.groups[1].group.to_string(), "224.0.0.1");
/// ```
pub fn parse_igmp_with(text: &str, endian: Endian) -> ProcMemberships {
    let mut out = ProcMemberships::default();
    // Index into out.interfaces of the interface the following group lines belong to.
    let mut current: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            // A group line.
            let Some(cur) = current else {
                out.error(lineno, "group line before any interface line", line);
                continue;
            };
            match parse_igmp_group(line, endian) {
                Ok(m) => out.interfaces[cur].groups.push(m),
                Err(reason) => out.error(lineno, reason, line),
            }
        } else if line.starts_with("Idx") {
            // The header.
            continue;
        } else {
            match parse_igmp_iface(line) {
                Ok((index, name, count, version)) => {
                    let pos = out.iface_pos(index, name);
                    let iface = &mut out.interfaces[pos];
                    iface.count = Some(count);
                    iface.igmp_version = version;
                    current = Some(pos);
                }
                Err(reason) => {
                    // Group lines after a bad interface line belong to no known interface.
                    current = None;
                    out.error(lineno, reason, line);
                }
            }
        }
    }
    out
}

/// `1\tlo        :     1      V3` → (index, name, count, version).
fn parse_igmp_iface(line: &str) -> Result<(u32, &str, u32, Option<u8>), &'static str> {
    let (head, tail) = line.split_once(':').ok_or("interface line without ':'")?;
    let mut head_words = head.split_whitespace();
    let index = next_parsed::<u32>(&mut head_words, "bad interface index")?;
    let name = head_words.next().ok_or("missing interface name")?;
    if head_words.next().is_some() {
        return Err("unexpected text after the interface name");
    }
    let mut tail_words = tail.split_whitespace();
    let count = next_parsed::<u32>(&mut tail_words, "bad group count")?;
    let version = match tail_words.next() {
        None => None,
        Some(q) => Some(
            q.strip_prefix('V')
                .and_then(|v| v.parse::<u8>().ok())
                .ok_or("bad querier version (expected V1, V2 or V3)")?,
        ),
    };
    Ok((index, name, count, version))
}

/// `\t\t\t\t010000E0     1 0:00000000\t\t0` → a membership.
fn parse_igmp_group(line: &str, endian: Endian) -> Result<Membership, &'static str> {
    let mut words = line.split_whitespace();
    let hex = words.next().ok_or("missing group")?;
    if hex.len() != 8 {
        return Err("group is not 8 hex digits");
    }
    let raw = hex_digits(hex)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("group is not 8 hex digits")?;
    // The kernel printed the in-memory bytes of a __be32 as a host integer; undo that.
    let octets = match endian {
        Endian::Little => raw.to_le_bytes(),
        Endian::Big => raw.to_be_bytes(),
    };
    let group =
        Group::new(IpAddr::V4(Ipv4Addr::from(octets))).map_err(|_| "group is not multicast")?;
    let users = next_parsed::<u32>(&mut words, "bad users count")?;
    let (running, left) = words
        .next()
        .and_then(|w| w.split_once(':'))
        .ok_or("bad timer (expected RUNNING:HEX)")?;
    let timer_running = match running {
        "0" => false,
        "1" => true,
        _ => return Err("bad timer (expected RUNNING:HEX)"),
    };
    let timer = hex_digits(left)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .and_then(|v| i64::try_from(v).ok())
        .ok_or("bad timer (expected RUNNING:HEX)")?;
    let reporter = match words.next() {
        None => None,
        Some("0") => Some(false),
        Some("1") => Some(true),
        Some(_) => return Err("bad reporter flag"),
    };
    Ok(Membership {
        group,
        users,
        timer_running,
        timer,
        reporter,
        flags: None,
    })
}

/// The next word parsed as a `T`, or `reason` when it is missing or does not parse.
fn next_parsed<'a, T: FromStr>(
    words: &mut impl Iterator<Item = &'a str>,
    reason: &'static str,
) -> Result<T, &'static str> {
    words.next().and_then(|w| w.parse().ok()).ok_or(reason)
}

/// `s` if it is non-empty and all hex digits (`from_str_radix` alone would accept a `+`).
fn hex_digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// Parses `/proc/net/igmp6`.
///
/// ```
/// let text = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
///             4    eth0            ff0200000000000000000001ff000002     1 00000004 0\n";
/// let p = mcast_core::proc::parse_igmp6(text);
/// assert_eq!(p.interfaces.len(), 2);
/// assert_eq!(p.interfaces[1].groups[0].group.to_string(), "ff02::1:ff00:2");
/// assert_eq!(p.interfaces[0].groups[0].flags, Some(0xc));
/// ```
pub fn parse_igmp6(text: &str) -> ProcMemberships {
    let mut out = ProcMemberships::default();
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        match parse_igmp6_line(line) {
            Ok((index, name, m)) => {
                let pos = out.iface_pos(index, name);
                out.interfaces[pos].groups.push(m);
            }
            Err(reason) => out.error(lineno, reason, line),
        }
    }
    out
}

fn parse_igmp6_line(line: &str) -> Result<(u32, &str, Membership), &'static str> {
    let mut words = line.split_whitespace();
    let index = next_parsed::<u32>(&mut words, "bad interface index")?;
    let name = words.next().ok_or("missing interface name")?;
    let hex = words.next().ok_or("missing group")?;
    if hex.len() != 32 {
        return Err("group is not 32 hex digits");
    }
    let raw = hex_digits(hex)
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .ok_or("group is not 32 hex digits")?;
    let group =
        Group::new(IpAddr::V6(Ipv6Addr::from(raw))).map_err(|_| "group is not multicast")?;
    let users = next_parsed::<u32>(&mut words, "bad users count")?;
    let flags = words
        .next()
        .and_then(hex_digits)
        .and_then(|w| u32::from_str_radix(w, 16).ok())
        .ok_or("bad flags")?;
    let timer = next_parsed::<i64>(&mut words, "bad timer")?;
    if words.next().is_some() {
        return Err("unexpected text after the timer");
    }
    Ok((
        index,
        name,
        Membership {
            group,
            users,
            timer_running: flags & 1 != 0,
            timer,
            reporter: None,
            flags: Some(flags),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Captured on this project's lab machine (x86_64) inside `unshare -n` after joining
    /// 224.1.1.5 and 232.1.1.5 (source 127.0.0.1) on `lo`.
    const IGMP_NS: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
        1\tlo        :     3      V3\n\
        \t\t\t\t050101E8     1 0:00000000\t\t0\n\
        \t\t\t\t050101E0     1 0:00000000\t\t0\n\
        \t\t\t\t010000E0     1 0:00000000\t\t0\n";

    /// Captured on the host (two interfaces).
    const IGMP_HOST: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
        1\tlo        :     1      V3\n\
        \t\t\t\t010000E0     1 0:00000000\t\t0\n\
        4\teth0      :     1      V3\n\
        \t\t\t\t010000E0     1 0:00000000\t\t0\n";

    const IGMP6_HOST: &str = "\
1    lo              ff020000000000000000000000000001     1 0000000C 0
1    lo              ff010000000000000000000000000001     1 00000008 0
2    ifb0            ff020000000000000000000000000001     1 0000000C 0
4    eth0            ff0200000000000000000001ff000002     1 00000004 0
4    eth0            ff0200000000000000000001ff000001     1 00000004 0
1    lo              ff150000000000000000000000000001     2 00000005 17
";

    fn g(s: &str) -> Group {
        s.parse().unwrap()
    }

    #[test]
    fn igmp_namespace_capture() {
        let p = parse_igmp_with(IGMP_NS, Endian::Little);
        assert_eq!(p.errors, vec![]);
        assert_eq!(p.interfaces.len(), 1);
        let lo = &p.interfaces[0];
        assert_eq!(lo.index, 1);
        assert_eq!(lo.name, "lo");
        assert_eq!(lo.count, Some(3));
        assert_eq!(lo.igmp_version, Some(3));
        let groups: Vec<String> = lo.groups.iter().map(|m| m.group.to_string()).collect();
        assert_eq!(groups, ["232.1.1.5", "224.1.1.5", "224.0.0.1"]);
        assert_eq!(
            lo.groups[1],
            Membership {
                group: g("224.1.1.5"),
                users: 1,
                timer_running: false,
                timer: 0,
                reporter: Some(false),
                flags: None,
            }
        );
        assert!(p.is_joined("lo", g("224.1.1.5")));
        assert!(!p.is_joined("eth0", g("224.1.1.5")));
    }

    #[test]
    fn igmp_two_interfaces() {
        let p = parse_igmp_with(IGMP_HOST, Endian::Little);
        assert!(p.errors.is_empty());
        let names: Vec<(u32, &str)> = p
            .interfaces
            .iter()
            .map(|i| (i.index, i.name.as_str()))
            .collect();
        assert_eq!(names, [(1, "lo"), (4, "eth0")]);
        assert_eq!(p.memberships().count(), 2);
        assert!(p.is_joined("eth0", g("224.0.0.1")));
    }

    #[test]
    fn igmp_big_endian_text() {
        let text = "1\teth0      :     1      V2\n\t\t\t\tE0010105     2 1:0000012C\t\t1\n";
        let p = parse_igmp_with(text, Endian::Big);
        assert!(p.errors.is_empty());
        let m = &p.interfaces[0].groups[0];
        assert_eq!(m.group, g("224.1.1.5"));
        assert_eq!(m.users, 2);
        assert!(m.timer_running);
        assert_eq!(m.timer, 0x12c);
        assert_eq!(m.reporter, Some(true));
        assert_eq!(p.interfaces[0].igmp_version, Some(2));
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn igmp_host_endian_is_little_here() {
        assert_eq!(
            parse_igmp(IGMP_NS),
            parse_igmp_with(IGMP_NS, Endian::Little)
        );
    }

    #[test]
    fn igmp_reports_bad_lines_and_keeps_going() {
        let text = "\t\t\t\t010000E0     1 0:00000000\t\t0\n\
                    1\tlo        :     2      V3\n\
                    \t\t\t\tZZZZZZZZ     1 0:00000000\t\t0\n\
                    \t\t\t\t0100000A     1 0:00000000\t\t0\n\
                    \t\t\t\t050101E0     1 0:00000000\t\t0\n\
                    garbage\n\
                    \t\t\t\t050101E0     1 0:00000000\t\t0\n";
        let p = parse_igmp_with(text, Endian::Little);
        assert_eq!(p.interfaces.len(), 1);
        assert_eq!(p.interfaces[0].groups.len(), 1);
        let reasons: Vec<(usize, &str)> = p.errors.iter().map(|e| (e.line, e.reason)).collect();
        assert_eq!(
            reasons,
            [
                (1, "group line before any interface line"),
                (3, "group is not 8 hex digits"),
                (4, "group is not multicast"),
                (6, "interface line without ':'"),
                (7, "group line before any interface line"),
            ]
        );
        assert_eq!(
            p.errors[1].to_string(),
            "line 3: group is not 8 hex digits: \"\\t\\t\\t\\tZZZZZZZZ     1 0:00000000\\t\\t0\""
        );
    }

    #[test]
    fn igmp6_host_capture() {
        let p = parse_igmp6(IGMP6_HOST);
        assert_eq!(p.errors, vec![]);
        let names: Vec<&str> = p.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "eth0"]);
        let lo = p.interface("lo").unwrap();
        assert_eq!(lo.groups.len(), 3);
        assert_eq!(lo.count, None);
        assert_eq!(lo.igmp_version, None);
        assert_eq!(
            lo.groups[2],
            Membership {
                group: g("ff15::1"),
                users: 2,
                timer_running: true,
                timer: 17,
                reporter: None,
                flags: Some(5),
            }
        );
        assert!(p.is_joined("eth0", g("ff02::1:ff00:1")));
    }

    #[test]
    fn igmp6_bad_lines() {
        let text = "1 lo ff02 1 0 0\n\
                    1 lo 20010db8000000000000000000000001 1 0 0\n\
                    x lo ff020000000000000000000000000001 1 0 0\n\
                    1 lo ff020000000000000000000000000001 1 0\n\
                    1 lo ff020000000000000000000000000001 1 0 0 extra\n\
                    1 lo ff020000000000000000000000000001 1 0 0\n";
        let p = parse_igmp6(text);
        assert_eq!(p.memberships().count(), 1);
        let reasons: Vec<&str> = p.errors.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                "group is not 32 hex digits",
                "group is not multicast",
                "bad interface index",
                "bad timer",
                "unexpected text after the timer",
            ]
        );
    }

    #[test]
    #[cfg(feature = "serde")]
    fn serializes() {
        fn assert_serialize<T: serde::Serialize>(_: &T) {}
        let p = parse_igmp6(IGMP6_HOST);
        assert_serialize(&p);
        assert_eq!(p.interfaces[0].groups[0].group, g("ff02::1"));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let a = parse_igmp(&s);
            let b = parse_igmp6(&s);
            prop_assert!(a.memberships().count() <= s.lines().count());
            prop_assert!(b.memberships().count() <= s.lines().count());
        }

        #[test]
        fn proc_like_text_never_panics(
            lines in proptest::collection::vec(
                "[0-9A-Fa-fV:\\t ]{0,40}|\\t\\t\\t\\t[0-9A-F]{8} +[0-9]{1,3} [01]:[0-9A-F]{8}\\t\\t[01]",
                0..20,
            )
        ) {
            let text = lines.join("\n");
            let p = parse_igmp_with(&text, Endian::Little);
            prop_assert!(p.memberships().count() + p.errors.len() <= lines.len());
            let q = parse_igmp6(&text);
            prop_assert!(q.memberships().count() + q.errors.len() <= lines.len());
        }
    }
}
