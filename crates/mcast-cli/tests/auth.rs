//! Authenticated frames (issue #9): `--key-file` on `send`, `recv`, `perf` and `ping`, and
//! `mcast keygen`. Hostile datagrams are crafted here and sent from a socket pinned to
//! 127.0.0.1 with TTL 0, like every test's.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use mcast_core::auth::{Authenticator, Key};
use mcast_core::frame::{self, EndOfSession, Flags, FrameRepr, Seq, SessionId};

use crate::crafted::{now_ns, raw_sender, record};
use crate::util::{run, Proc, LO};

/// A fresh directory for one test's key files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mcast-auth-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A key file made by `mcast keygen`, and its key.
    fn keygen(&self, name: &str) -> (String, Key) {
        let path = self.path(name);
        let out = run(&["keygen", path.to_str().unwrap()]);
        out.assert_success();
        (path.to_str().unwrap().to_owned(), read_key(&path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn read_key(path: &Path) -> Key {
    Key::from_hex(&fs::read(path).unwrap()).unwrap()
}

fn repr(session: u32, seq: u64) -> FrameRepr<'static> {
    FrameRepr {
        flags: Flags::empty(),
        session: SessionId(session),
        seq: Seq(seq),
        sent_at_ns: now_ns(),
        payload: b"hand-made",
        tag: None,
    }
}

/// A data frame signed with `key`.
fn signed(key: &Key, session: u32, seq: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    Authenticator::new(key)
        .encode(&repr(session, seq), &mut buf)
        .unwrap();
    buf
}

// issue #9 — `mcast keygen` writes a 0600 file of 64 hex digits, prints its path, refuses to
// overwrite it without --force; without PATH it prints a key.
#[test]
fn keygen_writes_a_private_key_file() {
    let dir = Scratch::new("keygen");
    let path = dir.path("group.key");
    let p = path.to_str().unwrap();
    let out = run(&["keygen", p]);
    out.assert_success();
    assert_eq!(out.stdout, [p]);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 65, "{text:?}");
    assert!(text[..64].bytes().all(|b| b.is_ascii_hexdigit()) && text.ends_with('\n'));
    let again = run(&["keygen", p]);
    assert_eq!(again.code(), 2, "{}", again.stderr_text());
    assert!(
        again.stderr[0].contains("exists: refusing to overwrite it")
            && again.stderr[1].contains("--force"),
        "{:?}",
        again.stderr
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "left alone");
    run(&["keygen", p, "--force"]).assert_success();
    assert_ne!(fs::read_to_string(&path).unwrap(), text, "a new key");
    let printed = run(&["keygen"]);
    printed.assert_success();
    assert_eq!(printed.stdout.len(), 1);
    assert!(Key::from_hex(printed.stdout[0].as_bytes()).is_ok());
}

// issue #9 — a key file that the group or others can access is refused as ssh refuses such a
// private key, and so is one of the wrong length; by every command, before any socket, exit 2.
#[test]
fn open_or_malformed_key_files_are_refused() {
    let dir = Scratch::new("refuse");
    let (good, _) = dir.keygen("good.key");
    let open = dir.path("open.key");
    fs::copy(&good, &open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
    let short = dir.path("short.key");
    fs::write(&short, "0123456789abcdef\n").unwrap();
    fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).unwrap();
    let commands: [&[&str]; 5] = [
        &["send", "239.1.9.1", "47801", "hi", "-i", LO, "--ttl", "0"],
        &["recv", "239.1.9.1", "47801", "-i", LO, "--timeout", "1s"],
        &[
            "perf",
            "send",
            "239.1.9.1",
            "47801",
            "-i",
            LO,
            "--ttl",
            "0",
            "-c",
            "1",
        ],
        &[
            "perf",
            "recv",
            "239.1.9.1",
            "47801",
            "-i",
            LO,
            "--timeout",
            "1s",
        ],
        &[
            "ping",
            "239.1.9.1",
            "47801",
            "-i",
            LO,
            "--ttl",
            "0",
            "-c",
            "1",
        ],
    ];
    for args in commands {
        for (file, error, hint) in [
            (
                open.to_str().unwrap(),
                format!(
                    "error: permissions 0644 for key file '{}' are too open",
                    open.display()
                ),
                format!("hint: chmod 600 {}", open.display()),
            ),
            (
                short.to_str().unwrap(),
                format!(
                    "error: key file '{}' holds 16 bytes: a key file holds 64 hex digits",
                    short.display()
                ),
                "hint: write a new key with `mcast keygen".to_owned(),
            ),
        ] {
            let mut a = args.to_vec();
            a.extend(["--key-file", file]);
            let out = run(&a);
            out.assert_no_panic();
            assert_eq!(out.code(), 2, "{a:?}: {}", out.stderr_text());
            assert_eq!(out.stderr.len(), 2, "{a:?}: {:?}", out.stderr);
            assert!(out.stderr[0].starts_with(&error), "{a:?}: {:?}", out.stderr);
            assert!(out.stderr[1].starts_with(&hint), "{a:?}: {:?}", out.stderr);
            assert!(out.stdout.is_empty(), "{a:?}: {:?}", out.stdout);
        }
    }
    // iperf2 cannot sign: counting it under a key is refused up front.
    for args in [&["recv"][..], &["perf", "recv"]] {
        let mut a = args.to_vec();
        a.extend([
            "239.1.9.1",
            "47801",
            "-i",
            LO,
            "--iperf",
            "--key-file",
            &good,
        ]);
        let out = run(&a);
        assert_eq!(out.code(), 2, "{a:?}: {}", out.stderr_text());
        assert!(
            out.stderr[0].contains("'--iperf' cannot be used with '--key-file"),
            "{:?}",
            out.stderr
        );
    }
}

// issue #9 — a genuine stream of 100,000 frames under --key-file arrives complete: nothing
// missing, nothing dropped by authentication, and the end frames close it.
#[test]
fn an_authenticated_stream_of_100000_frames_arrives_complete() {
    let dir = Scratch::new("stream");
    let (key, _) = dir.keygen("group.key");
    let mut rx = Proc::mcast(&[
        "perf",
        "recv",
        "239.1.9.2",
        "47802",
        "-i",
        LO,
        "--json",
        "--timeout",
        "30s",
        // Room for 2 s of the stream: the other tests of this binary run at the same time,
        // and a receiver starved of CPU for a moment must not lose datagrams in its kernel
        // buffer (host drops), which would say nothing about authentication.
        "--rcvbuf",
        "64M",
        "--key-file",
        &key,
    ]);
    rx.wait_listening();
    let tx = run(&[
        "perf",
        "send",
        "239.1.9.2",
        "47802",
        "-i",
        LO,
        "--ttl",
        "0",
        "--rate",
        "50000",
        "-c",
        "100000",
        "--size",
        "100",
        "--json",
        "--key-file",
        &key,
    ]);
    tx.assert_success();
    let start = record(&tx.json(), "start");
    assert_eq!(start["authenticated"], true);
    assert_eq!(record(&tx.json(), "summary")["datagrams"], 100_000);
    let records = rx.finish_ok().json();
    let summary = record(&records, "summary");
    assert_eq!(summary["sent"], 100_000, "{summary}");
    assert_eq!(summary["datagrams"], 100_000, "{summary}");
    assert_eq!(summary["missing"], 0, "{summary}");
    assert_eq!(summary["duplicates"], 0, "{summary}");
    assert_eq!(summary["bytes"], 100 * 100_000, "the tag is inside --size");
    let auth = &summary["auth"];
    for name in [
        "unauthenticated",
        "truncated",
        "forged",
        "tampered",
        "replayed",
    ] {
        assert_eq!(auth[name], 0, "{name}: {summary}");
    }
    let authenticated = auth["authenticated"].as_u64().unwrap();
    assert!(
        (100_001..=100_003).contains(&authenticated),
        "the data and its end frames: {summary}"
    );
    assert_eq!(record(&records, "end")["reason"], "ended");
}

// issue #9 — forged, tampered, truncated, replayed and unauthenticated datagrams, crafted
// here and sent between genuine frames, are each dropped and counted by name; the genuine
// stream is delivered complete and its figures are untouched.
#[test]
fn hostile_frames_are_dropped_and_counted_by_name() {
    let dir = Scratch::new("hostile");
    let (key_file, key) = dir.keygen("group.key");
    let mut rx = Proc::mcast(&[
        "recv",
        "239.1.9.3",
        "47803",
        "-i",
        LO,
        "--json",
        "--timeout",
        "3s",
        "--key-file",
        &key_file,
    ]);
    rx.wait_listening();
    let tx = raw_sender("239.1.9.3", 47803);
    let send = |bytes: &[u8]| {
        tx.send(bytes).unwrap();
    };
    let session = 0x5e55;
    for seq in 0..5 {
        send(&signed(&key, session, seq));
    }
    // Forged: made with another key, for a session never authenticated.
    let other = Key::from_bytes([0x42; 32]);
    send(&signed(&other, 0xf0f0, 0));
    // Tampered: a genuine frame with its payload changed on the way.
    let mut tampered = signed(&key, session, 5);
    tampered[frame::HEADER_LEN] ^= 0x20;
    send(&tampered);
    // Truncated: a genuine frame cut short; another with its tag cut and tag_len patched.
    let whole = signed(&key, session, 5);
    send(&whole[..whole.len() - 5]);
    let mut short_tag = whole[..whole.len() - 8].to_vec();
    short_tag[26..28].copy_from_slice(&8u16.to_be_bytes());
    send(&short_tag);
    // Replayed: a genuine frame sent again.
    send(&signed(&key, session, 2));
    // Unauthenticated: a plain frame, and a raw datagram.
    let mut plain = Vec::new();
    frame::encode(&repr(session, 6), &mut plain).unwrap();
    send(&plain);
    send(b"plain text");
    // The rest of the genuine stream, and its end.
    for seq in 5..10 {
        send(&signed(&key, session, seq));
    }
    let end = EndOfSession {
        first: Seq(0),
        end: Seq(10),
    };
    let body = end.payload();
    let mut end_frame = Vec::new();
    Authenticator::new(&key)
        .encode(
            &end.repr(SessionId(session), now_ns(), &body),
            &mut end_frame,
        )
        .unwrap();
    for _ in 0..3 {
        send(&end_frame);
    }
    let out = rx.finish_ok();
    let records = out.json();
    let stats = record(&records, "stats");
    let auth = &stats["auth"];
    assert_eq!(auth["forged"], 1, "{stats}");
    assert_eq!(auth["tampered"], 1, "{stats}");
    assert_eq!(auth["truncated"], 2, "{stats}");
    assert_eq!(auth["replayed"], 1, "{stats}");
    assert_eq!(auth["unauthenticated"], 2, "{stats}");
    assert_eq!(auth["authenticated"], 10 + 3, "{stats}");
    assert_eq!(stats["datagrams"], 10, "only the genuine data: {stats}");
    let framed = &stats["framed"];
    assert_eq!(framed["lost"], 0, "{stats}");
    assert_eq!(framed["duplicates"], 0, "{stats}");
    assert_eq!(framed["streams"].as_array().unwrap().len(), 1, "{stats}");
    let stream = &framed["streams"][0];
    assert_eq!(
        (stream["tampered"].as_u64(), stream["replayed"].as_u64()),
        (Some(1), Some(1))
    );
    // 64-bit sequence numbers are strings in JSON, so that no reader rounds them.
    assert_eq!(stream["end"]["end"], "10", "{stats}");
    let delivered: Vec<u64> = records
        .iter()
        .filter(|r| r["type"] == "recv")
        .map(|r| r["data"]["frame"]["seq"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        delivered,
        (0..10).collect::<Vec<_>>(),
        "each genuine frame once, in order"
    );
    let events: Vec<&str> = records
        .iter()
        .filter(|r| r["type"] == "gap")
        .map(|r| r["data"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "forged",
            "tampered",
            "truncated",
            "truncated",
            "replayed",
            "unauthenticated",
            "unauthenticated",
            "end"
        ]
    );
    let err = out.stderr_text();
    assert!(
        err.contains("authenticated: 13 datagrams passed; dropped 7: 2 unauthenticated, 2 truncated, 1 forged, 1 tampered, 1 replayed"),
        "{err}"
    );
}

// issue #9 — authenticated frames stay frames: a receiver without a key reads them (the tag
// is ignored), so a keyed sender still talks to plain receivers; a keyed receiver refuses a
// plain sender's frames and says why it received nothing.
#[test]
fn keyed_and_plain_ends_interoperate_one_way() {
    let dir = Scratch::new("interop");
    let (key, _) = dir.keygen("group.key");
    let rx = crate::receiver("239.1.9.4", "47804", &["-c", "1", "--timeout", "10s"]);
    let sent = run(&[
        "send",
        "239.1.9.4",
        "47804",
        "signed",
        "-i",
        LO,
        "--ttl",
        "0",
        "--key-file",
        &key,
    ]);
    sent.assert_success();
    assert_eq!(rx.finish_ok().stdout, ["signed"]);
    let rx = crate::receiver(
        "239.1.9.4",
        "47804",
        &["-c", "1", "--timeout", "4s", "--key-file", &key],
    );
    run(&[
        "send",
        "239.1.9.4",
        "47804",
        "plain",
        "-i",
        LO,
        "--ttl",
        "0",
        "--framed",
    ])
    .assert_success();
    let out = rx.finish();
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    let err = out.stderr_text();
    assert!(
        err.contains("hint: 4 datagrams failed authentication: check that every sender signs with the same key (--key-file)"),
        "the data frame and its three end frames: {err}"
    );
}

// issue #9 — two `mcast ping` instances with one key answer each other; a third with another
// key is heard by neither (its datagrams are forged to them) and hears no answer.
#[test]
fn pings_with_one_key_answer_each_other_and_not_a_stranger() {
    let dir = Scratch::new("ping");
    let (key, _) = dir.keygen("group.key");
    let (other, _) = dir.keygen("other.key");
    // 30 probes 30 ms apart and a 1 s answer time: the three overlap for most of their run,
    // even when they are slow to start.
    let spawn = |key: &str| {
        Proc::mcast(&[
            "ping",
            "239.1.9.5",
            "47805",
            "-i",
            LO,
            "--ttl",
            "0",
            "-c",
            "30",
            "--interval",
            "30ms",
            "--timeout",
            "1s",
            "--json",
            "--key-file",
            key,
        ])
    };
    let mut procs = [spawn(&key), spawn(&key), spawn(&other)];
    for p in &mut procs {
        p.wait_listening();
    }
    let [a, b, stranger] = procs;
    let mut forged = 0;
    for (name, out) in [("a", a.finish_ok()), ("b", b.finish_ok())] {
        let end = record(&out.json(), "end");
        let peers = end["peers"].as_object().unwrap();
        assert_eq!(peers.len(), 1, "{name}: only the other one: {end}");
        let peer = &end["peers"]["127.0.0.1"];
        assert!(peer["received"].as_u64().unwrap() > 0, "{name}: {end}");
        assert_eq!(peer["duplicates"], 0, "{name}: {end}");
        let auth = &end["auth"];
        assert!(auth["authenticated"].as_u64().unwrap() > 0, "{name}: {end}");
        for name in ["unauthenticated", "truncated", "tampered", "replayed"] {
            assert_eq!(auth[name], 0, "{name}: {end}");
        }
        forged += auth["forged"].as_u64().unwrap();
    }
    assert!(forged > 0, "the stranger's probes were heard, as forged");
    let out = stranger.finish();
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    let end = record(&out.json(), "end");
    assert_eq!(end["peers"], serde_json::json!({}), "{end}");
    assert!(end["auth"]["forged"].as_u64().unwrap() > 0, "{end}");
    assert!(
        out.stderr_text().contains("failed authentication"),
        "{}",
        out.stderr_text()
    );
}
