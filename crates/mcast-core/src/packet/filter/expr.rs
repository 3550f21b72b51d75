//! Filter expressions: a small tcpdump-like language for `mcast sniff`, parsed into an [`Expr`]
//! that is checked on the bytes of each frame.
//!
//! ```text
//! expression := term { "and" term }  |  term { "or" term }
//! term       := "not" term  |  "(" expression ")"  |  primitive
//! primitive  := [ "src" | "dst" ] "host" ADDR  |  ("src" | "dst") ADDR
//!             | [ "src" | "dst" ] "port" N
//!             | "udp" | "igmp" | "mld" | "ip" | "ip6" | "multicast" | "vlan" [ ID ]
//! ```
//!
//! | primitive | keeps |
//! |---|---|
//! | `host A` | IP packets from or to `A` (an IPv4 or IPv6 literal; names are not looked up) |
//! | `src host A`, `src A` / `dst host A`, `dst A` | IP packets from / to `A` |
//! | `port N` | UDP datagrams with `N` as source or destination port |
//! | `src port N` / `dst port N` | UDP datagrams from / to port `N` |
//! | `udp`, `igmp`, `mld` | UDP datagrams, IGMP messages, MLD messages |
//! | `ip`, `ip6` | IPv4 packets, IPv6 packets |
//! | `multicast` | IP packets to a multicast group (224.0.0.0/4, ff00::/8) |
//! | `vlan`, `vlan ID` | frames with an 802.1Q/802.1ad tag (whose outer VLAN id is `ID`) |
//!
//! `&&`, `||` and `!` are accepted for `and`, `or` and `not`. As in tcpdump, a protocol may
//! qualify the primitive after it: `udp port 50001` is `udp and port 50001`, `ip6 multicast` is
//! `ip6 and multicast`.
//!
//! Where this language differs from tcpdump's (pcap-filter(7)), it says so by refusing rather
//! than by meaning something else:
//! - `and` and `or` may not be mixed without parentheses. tcpdump gives them the same
//!   precedence, read left to right, while most readers expect `and` to bind tighter; either
//!   way `a or b and c` is ambiguous to someone, so it is an error pointing at the second
//!   operator.
//! - Ports are UDP ports (multicast is UDP); TCP and SCTP are not looked at.
//! - Host names, `net`, `ether`, byte offsets (`ip[9]`) and arithmetic are not part of it.
//!
//! # Why a language of our own, not BPF
//!
//! A BPF compiler means libpcap (a C library, and `pcap_compile` needs a live handle or a
//! link type) or a crate that reimplements pcap-filter(7); no such crate is both well kept and
//! free of libpcap. The expressions users type at a multicast tool are few and simple (a host,
//! a port, a protocol), this parser is small enough to fuzz and test exhaustively, and it reuses
//! the same byte checks as [`Filter`]. The kernel still drops most frames first:
//! [`Expr::capture_filter`] derives a [`Filter`] that accepts a superset of the expression, and
//! that filter's BPF program ([`Filter::bpf_program`]) is what the capture socket attaches.
//!
//! # Errors point at a token
//!
//! [`ExprError::at`] is the byte offset of the offending token (or the end of the input) and
//! [`ExprError::len`] its length, so a caller can underline it.
//!
//! ```
//! use mcast_core::packet::filter::{Expr, ExprErrorKind};
//!
//! let e: Expr = "udp port 50001 and not src host 192.168.56.3".parse()?;
//! assert_eq!(e.to_string(), "udp and port 50001 and not src host 192.168.56.3");
//!
//! // UDP from 192.168.56.3:52582 to 224.1.1.5:50001, as captured on a veth.
//! let frame = b"\x01\x00\x5e\x01\x01\x05\xce\xbe\x28\x7d\x4c\x16\x08\x00\
//!     \x45\x00\x00\x29\xdf\x2d\x40\x00\x01\x11\xc0\xe4\xc0\xa8\x38\x03\xe0\x01\x01\x05\
//!     \xcd\x66\xc3\x51\x00\x15\xd9\xd8Hello, World!";
//! assert!(!e.matches(frame, true));
//! assert!("dst 224.1.1.5 and udp".parse::<Expr>()?.matches(frame, true));
//!
//! let err = "host 224.1.1.5 or port 5000 and udp".parse::<Expr>().unwrap_err();
//! assert_eq!((err.at, err.len), (28, 3));
//! assert_eq!(err.kind, ExprErrorKind::MixedAndOr);
//! let err = "port fifty".parse::<Expr>().unwrap_err();
//! assert_eq!(err.to_string(), "expected a port number (0-65535), found `fifty`");
//! assert_eq!(err.underline("port fifty"), "     ^^^^^");
//! # Ok::<(), mcast_core::packet::filter::ExprError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::{frame_facts, Filter, FrameFacts, PROTO_IGMP, PROTO_UDP};

/// Which side of a packet a `host` or `port` primitive looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Source or destination (`host A`, `port N`).
    Either,
    /// Source (`src host A`, `src port N`).
    Src,
    /// Destination (`dst host A`, `dst port N`).
    Dst,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Self::Either => "",
            Self::Src => "src ",
            Self::Dst => "dst ",
        }
    }
}

/// One test on a frame (see the [module docs](self) for what each keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Primitive {
    /// `[src|dst] host A`.
    Host(Side, IpAddr),
    /// `[src|dst] port N` (UDP).
    Port(Side, u16),
    /// `udp`.
    Udp,
    /// `igmp`.
    Igmp,
    /// `mld`.
    Mld,
    /// `ip` (IPv4).
    Ip,
    /// `ip6`.
    Ip6,
    /// `multicast`: the IP destination is a multicast address.
    Multicast,
    /// `vlan` or `vlan ID`.
    Vlan(Option<u16>),
}

impl Primitive {
    fn matches(&self, facts: &FrameFacts) -> bool {
        let ip = facts.ip.as_ref();
        match *self {
            Self::Host(side, a) => ip.is_some_and(|ip| match side {
                Side::Either => ip.src == a || ip.dst == a,
                Side::Src => ip.src == a,
                Side::Dst => ip.dst == a,
            }),
            Self::Port(side, n) => {
                ip.and_then(|ip| ip.udp_ports)
                    .is_some_and(|(src, dst)| match side {
                        Side::Either => src == n || dst == n,
                        Side::Src => src == n,
                        Side::Dst => dst == n,
                    })
            }
            Self::Udp => ip.is_some_and(|ip| ip.proto == PROTO_UDP),
            Self::Igmp => ip.is_some_and(|ip| ip.dst.is_ipv4() && ip.proto == PROTO_IGMP),
            Self::Mld => ip.is_some_and(|ip| ip.dst.is_ipv6() && ip.membership),
            Self::Ip => ip.is_some_and(|ip| ip.dst.is_ipv4()),
            Self::Ip6 => ip.is_some_and(|ip| ip.dst.is_ipv6()),
            Self::Multicast => ip.is_some_and(|ip| ip.dst.is_multicast()),
            Self::Vlan(None) => facts.vlan.is_some(),
            Self::Vlan(Some(id)) => facts.vlan == Some(id),
        }
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(side, a) => write!(f, "{}host {a}", side.prefix()),
            Self::Port(side, n) => write!(f, "{}port {n}", side.prefix()),
            Self::Udp => f.write_str("udp"),
            Self::Igmp => f.write_str("igmp"),
            Self::Mld => f.write_str("mld"),
            Self::Ip => f.write_str("ip"),
            Self::Ip6 => f.write_str("ip6"),
            Self::Multicast => f.write_str("multicast"),
            Self::Vlan(None) => f.write_str("vlan"),
            Self::Vlan(Some(id)) => write!(f, "vlan {id}"),
        }
    }
}

/// A parsed filter expression. `FromStr` parses the language in the [module docs](self);
/// `Display` writes it back in a canonical form that parses to the same `Expr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A primitive.
    Is(Primitive),
    /// `not E`.
    Not(Box<Expr>),
    /// `A and B`.
    And(Box<Expr>, Box<Expr>),
    /// `A or B`.
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Whether the frame passes. `ethernet` says whether `frame` starts with a 14-byte Ethernet
    /// header, as in [`Filter::matches`]. Never panics, whatever the bytes.
    pub fn matches(&self, frame: &[u8], ethernet: bool) -> bool {
        self.eval(&frame_facts(frame, ethernet))
    }

    fn eval(&self, facts: &FrameFacts) -> bool {
        match self {
            Self::Is(p) => p.matches(facts),
            Self::Not(e) => !e.eval(facts),
            Self::And(a, b) => a.eval(facts) && b.eval(facts),
            Self::Or(a, b) => a.eval(facts) || b.eval(facts),
        }
    }

    /// A [`Filter`] that keeps every frame this expression keeps (and maybe more), for the
    /// kernel's pre-filter: from the terms joined by `and` at the top, the first `port` (any
    /// side) becomes [`Filter::port`] and the first `dst host` of a multicast address becomes
    /// [`Filter::group`]. Anything else gives the empty filter, which keeps everything.
    ///
    /// ```
    /// use mcast_core::packet::filter::{Expr, Filter};
    /// let e: Expr = "udp and dst port 50001 and dst 224.1.1.5".parse()?;
    /// assert_eq!(e.capture_filter(), Filter { port: Some(50001), group: Some("224.1.1.5".parse()?) });
    /// assert!("port 1 or port 2".parse::<Expr>()?.capture_filter().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capture_filter(&self) -> Filter {
        let mut f = Filter::default();
        self.narrow(&mut f);
        f
    }

    fn narrow(&self, f: &mut Filter) {
        match self {
            Self::And(a, b) => {
                a.narrow(f);
                b.narrow(f);
            }
            Self::Is(Primitive::Port(_, n)) => {
                f.port.get_or_insert(*n);
            }
            Self::Is(Primitive::Host(Side::Dst, a)) => {
                // Only a multicast destination is a group that can narrow the kernel's filter.
                if let Ok(g) = crate::addr::Group::new(*a) {
                    f.group.get_or_insert(g);
                }
            }
            _ => {}
        }
    }

    fn is_and(&self) -> bool {
        matches!(self, Self::And(..))
    }

    fn is_or(&self) -> bool {
        matches!(self, Self::Or(..))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parentheses wherever the parser would otherwise build another tree: around a
        // different operator, and around a right-hand side of the same operator (the parser
        // associates to the left).
        let side = |f: &mut fmt::Formatter<'_>, e: &Self, paren: bool| {
            if paren {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        match self {
            Self::Is(p) => write!(f, "{p}"),
            Self::Not(e) => {
                f.write_str("not ")?;
                side(f, e, e.is_and() || e.is_or())
            }
            Self::And(a, b) => {
                side(f, a, a.is_or())?;
                f.write_str(" and ")?;
                side(f, b, b.is_or() || b.is_and())
            }
            Self::Or(a, b) => {
                side(f, a, a.is_and())?;
                f.write_str(" or ")?;
                side(f, b, b.is_or() || b.is_and())
            }
        }
    }
}

impl FromStr for Expr {
    type Err = ExprError;

    fn from_str(s: &str) -> Result<Self, ExprError> {
        let mut p = Parser {
            tokens: tokenize(s)?,
            pos: 0,
            end: s.len(),
            depth: 0,
        };
        let e = p.expression()?;
        match p.peek() {
            None => Ok(e),
            Some(t) if t.text == ")" => Err(p.error(t, ExprErrorKind::UnopenedParen)),
            Some(t) => Err(p.error(
                t,
                ExprErrorKind::Unexpected {
                    expected: "`and`, `or` or the end",
                    found: t.text.to_owned(),
                },
            )),
        }
    }
}

/// Why an expression did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
#[non_exhaustive]
pub struct ExprError {
    /// Byte offset of the offending token in the input (its length when the input ended early).
    pub at: usize,
    /// Length of the offending token in bytes (0 at the end of the input).
    pub len: usize,
    /// What was wrong.
    pub kind: ExprErrorKind,
}

impl ExprError {
    /// A line of spaces and carets that underlines the offending token when printed below
    /// `input` (one caret at the end when the input ended early).
    pub fn underline(&self, input: &str) -> String {
        let before = input.get(..self.at).unwrap_or(input).chars().count();
        let width = input
            .get(self.at..self.at + self.len)
            .map_or(1, |t| t.chars().count().max(1));
        format!("{}{}", " ".repeat(before), "^".repeat(width))
    }
}

/// What was wrong with an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprErrorKind {
    /// Nothing to parse.
    #[error("the expression is empty")]
    Empty,
    /// The input ended where something was expected.
    #[error("expected {expected}, found the end of the expression")]
    End {
        /// What would have been right.
        expected: &'static str,
    },
    /// A token that does not fit here.
    #[error("expected {expected}, found `{found}`")]
    Unexpected {
        /// What would have been right.
        expected: &'static str,
        /// The token found.
        found: String,
    },
    /// Not an IPv4 or IPv6 address.
    #[error("expected an IPv4 or IPv6 address, found `{0}` (host names are not looked up)")]
    BadAddress(String),
    /// Not a port number.
    #[error("expected a port number (0-65535), found `{0}`")]
    BadPort(String),
    /// `and` and `or` side by side without parentheses.
    #[error("`and` and `or` mixed without parentheses: add them to say which binds first")]
    MixedAndOr,
    /// A `(` without its `)`.
    #[error("this `(` is never closed")]
    UnclosedParen,
    /// A `)` without its `(`.
    #[error("this `)` has no `(`")]
    UnopenedParen,
    /// Parentheses or `not`s nested too deep.
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// More than [`MAX_TERMS`] terms joined by `and` (or by `or`) in one chain.
    #[error("more than {MAX_TERMS} terms in one `and`/`or` chain")]
    TooLong,
}

/// How deep `(` and `not` may nest; the parser recurses once per level.
pub const MAX_DEPTH: usize = 64;

/// How many terms one `and` or `or` chain may join: the tree grows one level per term, and
/// matching, printing and dropping it recurse once per level.
pub const MAX_TERMS: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    at: usize,
}

fn tokenize(s: &str) -> Result<Vec<Token<'_>>, ExprError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let single = matches!(c, '(' | ')' | '!');
        let double =
            (c == '&' || c == '|') && s[at..].starts_with(if c == '&' { "&&" } else { "||" });
        let len = if single {
            1
        } else if double {
            2
        } else {
            s[at..]
                .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '!' | '&' | '|'))
                .unwrap_or(s.len() - at)
                .max(c.len_utf8())
        };
        out.push(Token {
            text: &s[at..at + len],
            at,
        });
        while chars.peek().is_some_and(|&(i, _)| i < at + len) {
            chars.next();
        }
    }
    if out.is_empty() {
        return Err(ExprError {
            at: 0,
            len: s.len(),
            kind: ExprErrorKind::Empty,
        });
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    end: usize,
    depth: usize,
}

/// The keywords that start a primitive, for error messages.
const PRIMITIVE: &str = "a primitive (host, src, dst, port, udp, igmp, mld, ip, ip6, multicast, \
     vlan), `not` or `(`";

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_is(&self, words: &[&str]) -> bool {
        self.peek().is_some_and(|t| words.contains(&t.text))
    }

    fn bump(&mut self, expected: &'static str) -> Result<Token<'a>, ExprError> {
        let t = self.peek().ok_or(ExprError {
            at: self.end,
            len: 0,
            kind: ExprErrorKind::End { expected },
        })?;
        self.pos += 1;
        Ok(t)
    }

    fn error(&self, t: Token<'_>, kind: ExprErrorKind) -> ExprError {
        ExprError {
            at: t.at,
            len: t.text.len(),
            kind,
        }
    }

    fn unexpected(&self, t: Token<'_>, expected: &'static str) -> ExprError {
        self.error(
            t,
            ExprErrorKind::Unexpected {
                expected,
                found: t.text.to_owned(),
            },
        )
    }

    fn expression(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.term()?;
        let mut op: Option<bool> = None; // Some(true) = and, Some(false) = or
        let mut terms = 1;
        while let Some(t) = self.peek() {
            let is_and = match t.text {
                "and" | "&&" => true,
                "or" | "||" => false,
                _ => break,
            };
            if op.is_some_and(|o| o != is_and) {
                return Err(self.error(t, ExprErrorKind::MixedAndOr));
            }
            if terms == MAX_TERMS {
                return Err(self.error(t, ExprErrorKind::TooLong));
            }
            terms += 1;
            op = Some(is_and);
            self.pos += 1;
            let rhs = self.term()?;
            e = if is_and {
                Expr::And(Box::new(e), Box::new(rhs))
            } else {
                Expr::Or(Box::new(e), Box::new(rhs))
            };
        }
        Ok(e)
    }

    fn term(&mut self) -> Result<Expr, ExprError> {
        let t = self.bump(PRIMITIVE)?;
        match t.text {
            "not" | "!" => self.nested(t, |p| Ok(Expr::Not(Box::new(p.term()?)))),
            "(" => self.nested(t, |p| {
                let e = p.expression()?;
                match p.peek() {
                    Some(c) if c.text == ")" => {
                        p.pos += 1;
                        Ok(e)
                    }
                    // The expression stops only at the end or at a token that cannot go on.
                    Some(c) => Err(p.unexpected(c, "`and`, `or` or `)`")),
                    None => Err(p.error(t, ExprErrorKind::UnclosedParen)),
                }
            }),
            _ => self.primitive(t),
        }
    }

    fn nested(
        &mut self,
        t: Token<'_>,
        inner: impl FnOnce(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(t, ExprErrorKind::TooDeep));
        }
        self.depth += 1;
        let e = inner(self);
        self.depth -= 1;
        e
    }

    fn primitive(&mut self, t: Token<'a>) -> Result<Expr, ExprError> {
        let proto = match t.text {
            "udp" => Primitive::Udp,
            "igmp" => Primitive::Igmp,
            "mld" => Primitive::Mld,
            "ip" => Primitive::Ip,
            "ip6" => Primitive::Ip6,
            "multicast" => return Ok(Expr::Is(Primitive::Multicast)),
            "vlan" => {
                let id = match self.peek() {
                    Some(n) if n.text.bytes().all(|b| b.is_ascii_digit()) => {
                        self.pos += 1;
                        match n.text.parse::<u16>() {
                            Ok(id) if id < 4096 => Some(id),
                            _ => return Err(self.unexpected(n, "a VLAN id (0-4095)")),
                        }
                    }
                    _ => None,
                };
                return Ok(Expr::Is(Primitive::Vlan(id)));
            }
            _ => return self.qualified(t).map(Expr::Is),
        };
        // `udp port 50001`, `ip6 multicast`: a protocol qualifies the primitive after it.
        if self.peek_is(&["host", "port", "src", "dst", "multicast"]) {
            let next = self.bump(PRIMITIVE)?;
            let rest = if next.text == "multicast" {
                Primitive::Multicast
            } else {
                self.qualified(next)?
            };
            return Ok(Expr::And(
                Box::new(Expr::Is(proto)),
                Box::new(Expr::Is(rest)),
            ));
        }
        Ok(Expr::Is(proto))
    }

    /// `[src|dst] host A`, `src|dst A`, `[src|dst] port N`, starting at `t`.
    fn qualified(&mut self, t: Token<'a>) -> Result<Primitive, ExprError> {
        let (side, kw) = match t.text {
            "src" | "dst" => {
                let side = if t.text == "src" {
                    Side::Src
                } else {
                    Side::Dst
                };
                match self.peek() {
                    Some(k) if k.text == "host" || k.text == "port" => {
                        self.pos += 1;
                        (side, k.text)
                    }
                    // `src A`, `dst A`: host is implied.
                    _ => (side, "host"),
                }
            }
            "host" | "port" => (Side::Either, t.text),
            _ => return Err(self.unexpected(t, PRIMITIVE)),
        };
        if kw == "port" {
            let n = self.bump("a port number")?;
            return n
                .text
                .parse()
                .map(|p| Primitive::Port(side, p))
                .map_err(|_| self.error(n, ExprErrorKind::BadPort(n.text.to_owned())));
        }
        let a = self.bump("an IPv4 or IPv6 address")?;
        a.text
            .parse()
            .map(|ip| Primitive::Host(side, ip))
            .map_err(|_| self.error(a, ExprErrorKind::BadAddress(a.text.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(s: &str) -> Expr {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> ExprError {
        s.parse::<Expr>().unwrap_err()
    }

    /// Ethernet (optionally VLAN-tagged) + IPv4 + UDP `src:sport > dst:dport`.
    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, vlan: Option<u16>) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        if let Some(id) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&id.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 30, 0, 1, 0x40, 0, 1, 17, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 10, 0, 0, b'h', b'i']);
        f
    }

    /// Ethernet + IPv4 + IGMPv2 report for 224.1.1.5 from 192.168.56.3.
    fn igmp4() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0xc0, 0, 28, 0, 0, 0x40, 0, 1, 2, 0, 0]);
        f.extend_from_slice(&[192, 168, 56, 3, 224, 1, 1, 5]);
        f.extend_from_slice(&[0x16, 0, 0, 0, 224, 1, 1, 5]);
        f
    }

    const H: [u8; 4] = [192, 168, 56, 3];
    const G: [u8; 4] = [224, 1, 1, 5];

    #[test]
    fn primitives_select_the_right_frames() {
        let to_g = udp4(H, G, 52582, 50001, None);
        let to_other = udp4(H, [234, 3, 2, 1], 52582, 50002, None);
        let unicast = udp4(H, [192, 168, 56, 4], 50001, 9, None);
        let tagged = udp4(H, G, 52582, 50001, Some(5));
        let igmp = igmp4();
        let frames = [&to_g, &to_other, &unicast, &tagged, &igmp];
        let table: &[(&str, [bool; 5])] = &[
            ("udp", [true, true, true, true, false]),
            ("igmp", [false, false, false, false, true]),
            ("mld or ip6", [false; 5]),
            ("ip", [true; 5]),
            ("port 50001", [true, false, true, true, false]),
            ("dst port 50001", [true, false, false, true, false]),
            ("src port 50001", [false, false, true, false, false]),
            ("udp port 50002", [false, true, false, false, false]),
            ("host 224.1.1.5", [true, false, false, true, true]),
            ("dst 224.1.1.5 and udp", [true, false, false, true, false]),
            (
                "src host 192.168.56.3 and not multicast",
                [false, false, true, false, false],
            ),
            ("multicast", [true, true, false, true, true]),
            ("vlan", [false, false, false, true, false]),
            ("vlan 5 and port 50001", [false, false, false, true, false]),
            ("vlan 6", [false; 5]),
            (
                "!(udp) || dst port 50002",
                [false, true, false, false, true],
            ),
            (
                "not (port 50001 or igmp)",
                [false, true, false, false, false],
            ),
            (
                "(igmp) && (host 224.1.1.5)",
                [false, false, false, false, true],
            ),
        ];
        for (expr, want) in table {
            let e = parse(expr);
            let got: Vec<bool> = frames.iter().map(|f| e.matches(f, true)).collect();
            assert_eq!(got, want, "{expr}");
        }
        // Raw IP: the same packet without its Ethernet header.
        assert!(parse("dst port 50001").matches(&to_g[14..], false));
        assert!(!parse("vlan").matches(&to_g[14..], false));
    }

    #[test]
    fn canonical_text() {
        for (input, shown) in [
            ("udp port 50001", "udp and port 50001"),
            ("src 10.0.0.1", "src host 10.0.0.1"),
            ("a", ""),
            ("!udp&&!igmp", "not udp and not igmp"),
            ("(port 1 or port 2) and ip", "(port 1 or port 2) and ip"),
            (
                "port 1 and (port 2 and port 3)",
                "port 1 and (port 2 and port 3)",
            ),
            ("not (udp and ip6)", "not (udp and ip6)"),
            ("ip6 multicast", "ip6 and multicast"),
            ("host ff15::5", "host ff15::5"),
        ] {
            if shown.is_empty() {
                assert!(input.parse::<Expr>().is_err());
                continue;
            }
            assert_eq!(parse(input).to_string(), shown, "{input}");
            assert_eq!(parse(shown), parse(input), "{input}");
        }
    }

    #[test]
    fn errors_point_at_the_token() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("", 0, 0, "the expression is empty"),
            ("   ", 0, 3, "the expression is empty"),
            (
                "port",
                4,
                0,
                "expected a port number, found the end of the expression",
            ),
            (
                "udp port 70000",
                9,
                5,
                "expected a port number (0-65535), found `70000`",
            ),
            ("host example.com", 5, 11, "host names are not looked up"),
            ("udp or port 1 and ip", 14, 3, "`and` and `or` mixed"),
            ("(udp or ip", 0, 1, "this `(` is never closed"),
            ("udp)", 3, 1, "this `)` has no `(`"),
            (
                "udp ip",
                4,
                2,
                "expected `and`, `or` or the end, found `ip`",
            ),
            ("tcp", 0, 3, "expected a primitive"),
            ("udp and", 7, 0, "found the end of the expression"),
            ("vlan 4096", 5, 4, "a VLAN id (0-4095)"),
            ("(udp ip)", 5, 2, "expected `and`, `or` or `)`, found `ip`"),
            ("udp & ip", 4, 1, "found `&`"),
        ];
        for &(input, at, len, needle) in cases {
            let e = err(input);
            assert_eq!((e.at, e.len), (at, len), "{input:?}: {e}");
            assert!(e.to_string().contains(needle), "{input:?}: {e}");
        }
        assert_eq!(err("port x").underline("port x"), "     ^");
        assert_eq!(err("port").underline("port"), "    ^");
        let deep = format!("{}udp{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(err(&deep).kind, ExprErrorKind::TooDeep);
        let nots = format!("{}udp", "not ".repeat(100));
        assert_eq!(err(&nots).kind, ExprErrorKind::TooDeep);
        let chain = |n: usize| vec!["ip"; n].join(" and ");
        parse(&chain(MAX_TERMS));
        assert_eq!(err(&chain(MAX_TERMS + 1)).kind, ExprErrorKind::TooLong);
        // Far past the cap (deep enough to overflow the stack were it built), refused.
        assert_eq!(err(&chain(200_000)).kind, ExprErrorKind::TooLong);
    }

    #[test]
    fn capture_filter_is_a_superset() {
        let f = parse("dst host 224.1.1.5 and src port 4000").capture_filter();
        assert_eq!(f.port, Some(4000));
        assert_eq!(f.group.map(IpAddr::from), Some(IpAddr::from(G)));
        // A unicast destination or an `or` cannot narrow the kernel's filter.
        assert!(parse("dst 192.168.56.4").capture_filter().is_empty());
        assert!(parse("not port 1").capture_filter().is_empty());
        assert!(parse("port 1 or port 2").capture_filter().is_empty());
    }

    fn primitive() -> impl Strategy<Value = Primitive> {
        let side = prop_oneof![Just(Side::Either), Just(Side::Src), Just(Side::Dst)];
        let addr = prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ];
        prop_oneof![
            (side.clone(), addr).prop_map(|(s, a)| Primitive::Host(s, a)),
            (side, any::<u16>()).prop_map(|(s, p)| Primitive::Port(s, p)),
            Just(Primitive::Udp),
            Just(Primitive::Igmp),
            Just(Primitive::Mld),
            Just(Primitive::Ip),
            Just(Primitive::Ip6),
            Just(Primitive::Multicast),
            proptest::option::of(0u16..4096).prop_map(Primitive::Vlan),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        primitive()
            .prop_map(Expr::Is)
            .prop_recursive(6, 48, 2, |inner| {
                prop_oneof![
                    inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                    (inner.clone(), inner.clone())
                        .prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                    (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
                ]
            })
    }

    proptest! {
        #[test]
        fn display_parses_back(e in expr()) {
            let text = e.to_string();
            prop_assert_eq!(text.parse::<Expr>(), Ok(e), "{}", text);
        }

        #[test]
        fn any_text_parses_or_points_inside(s in "[a-z0-9:.()!&| ]{0,40}") {
            match s.parse::<Expr>() {
                Ok(e) => prop_assert_eq!(e.to_string().parse::<Expr>(), Ok(e)),
                Err(e) => {
                    prop_assert!(e.at + e.len <= s.len(), "{:?}: {:?}", s, e);
                    prop_assert!(s.is_char_boundary(e.at));
                    let _ = e.underline(&s);
                }
            }
        }

        #[test]
        fn matching_never_panics(e in expr(), frame in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = e.matches(&frame, true);
            let _ = e.matches(&frame, false);
        }

        #[test]
        fn capture_filter_keeps_what_the_expression_keeps(
            e in expr(),
            sport in prop_oneof![Just(50001u16), any::<u16>()],
            dport in prop_oneof![Just(50001u16), any::<u16>()],
            dst in prop_oneof![Just(G), any::<[u8; 4]>()],
        ) {
            let frame = udp4(H, dst, sport, dport, None);
            if e.matches(&frame, true) {
                prop_assert!(e.capture_filter().matches(&frame, true));
            }
        }
    }
}
