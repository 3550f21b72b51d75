#![no_main]
//! Arbitrary bytes as a pcap file (`mcast sniff -r`): the reader must never panic nor read
//! past the input, and every record it hands out goes through the packet printer.
use libfuzzer_sys::fuzz_target;
use mcast_core::packet::pcap::{PcapReader, FILE_HEADER_LEN, RECORD_HEADER_LEN};
use mcast_core::packet::{ether::EtherHeader, summarize, LinkType};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = PcapReader::new(data) else {
        return;
    };
    let link = reader.link_type().unwrap_or(LinkType::Ethernet);
    let mut used = FILE_HEADER_LEN;
    for record in reader {
        let Ok(record) = record else {
            break;
        };
        used += RECORD_HEADER_LEN + record.data.len();
        if let Ok(s) = summarize(record.data, link) {
            let _ = s.to_string();
        }
        if let Some(h) = EtherHeader::parse(record.data) {
            let _ = h.to_string();
        }
    }
    assert!(used <= data.len());
});
