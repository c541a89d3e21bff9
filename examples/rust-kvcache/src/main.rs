//! The kvharness backend-protocol adapter (docs/backend-protocol.md, version 1) for PagedCache:
//! reads requests from stdin, writes one reply line each to stdout.
//! `--evict-when-full` turns on the original bug (silent LRU eviction when the pool is full).

use rust_kvcache::{Config, Error, PagedCache};
use std::io::{self, BufRead, BufReader, BufWriter, Write};

const PROFILE: &str = "kvbackend 1 rust-kvcache
ops alloc append free read info stats check
eviction none
page_size 1 65536
max_pages 1 16777216
kv_heads 1 64
head_dim 1 256
layers 1 64
data yes
audit yes
ready";

const WORDS_PER_REQUEST_MAX: u64 = 4096;

struct Adapter {
    cache: Option<PagedCache>,
    evict_when_full: bool,
    tick: u64,
}

fn status(result: Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(Error::CapacityExceeded) => "capacity_exceeded".to_string(),
        Err(Error::UnknownSequence) => "unknown_sequence".to_string(),
        Err(Error::InvalidArgument) => "invalid_argument".to_string(),
    }
}

fn number(word: Option<&str>) -> Result<u64, String> {
    let word = word.ok_or_else(|| "missing argument".to_string())?;
    word.parse::<u64>()
        .map_err(|_| format!("'{}' is not a number", word))
}

fn seq_id(word: Option<&str>) -> Result<u32, String> {
    let value = number(word)?;
    if value > u32::MAX as u64 {
        return Err(format!("sequence id {} is over 2^32-1", value));
    }
    Ok(value as u32)
}

fn ok_list<T: ToString>(values: &[T]) -> String {
    let mut out = String::from("ok");
    for value in values {
        out.push(' ');
        out.push_str(&value.to_string());
    }
    out
}

/// FNV-1a 64 over the words, each little-endian (docs/backend-protocol.md section 4).
fn digest(words: &[u32]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for word in words {
        for byte in word.to_le_bytes().iter() {
            hash ^= *byte as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

fn parse_config(line: &str) -> Result<Config, String> {
    let mut config = Config {
        page_size: 0,
        max_pages: 0,
        kv_heads: 1,
        head_dim: 2,
        layers: 1,
    };
    for item in line.split(' ').skip(1) {
        let mut parts = item.splitn(2, '=');
        let key = parts.next().unwrap_or("");
        let value = parts
            .next()
            .ok_or_else(|| format!("config item '{}' is not key=value", item))?;
        if key == "eviction" {
            if value != "none" {
                return Err(format!(
                    "eviction={} is not supported (profile: none)",
                    value
                ));
            }
            continue;
        }
        let value = number(Some(value))?;
        if value == 0 || value > u32::MAX as u64 {
            return Err(format!("{}={} is out of range", key, value));
        }
        let value = value as u32;
        match key {
            "page_size" => config.page_size = value,
            "max_pages" => config.max_pages = value,
            "kv_heads" => config.kv_heads = value,
            "head_dim" => config.head_dim = value,
            "layers" => config.layers = value,
            _ => return Err(format!("unknown config key '{}'", key)),
        }
    }
    if config.page_size == 0 || config.max_pages == 0 {
        return Err("config needs page_size and max_pages".to_string());
    }
    Ok(config)
}

impl Adapter {
    fn handle(&mut self, line: &str, out: &mut impl Write) -> Result<String, String> {
        if line.starts_with("config") {
            let config = parse_config(line)?;
            self.cache = Some(PagedCache::new(config, self.evict_when_full));
            self.tick = 0;
            return Ok("ok".to_string());
        }
        let cache = self
            .cache
            .as_mut()
            .ok_or_else(|| "no config yet".to_string())?;
        let mut words = line.split(' ');
        let first = words.next().unwrap_or("");
        if first == "tick" {
            self.tick = number(words.next())?;
            return Ok("ok".to_string());
        }
        if first == "?" {
            return observe(cache, words.next().unwrap_or(""), &mut words, out);
        }
        let tick = self.tick;
        self.tick += 1;
        Ok(match first {
            "alloc" => status(cache.alloc(seq_id(words.next())?, tick)),
            "append" => {
                let seq = seq_id(words.next())?;
                let count = number(words.next())?.min(u32::MAX as u64) as u32;
                status(cache.append(seq, count, tick, 0))
            }
            "free" => status(cache.free(seq_id(words.next())?)),
            "read" => status(cache.read(seq_id(words.next())?, tick).map(|_| ())),
            "info" => info_reply(cache, seq_id(words.next())?),
            "stats" => stats_reply(cache),
            "check" => "ok".to_string(),
            other => return Err(format!("op '{}' is not in this backend's profile", other)),
        })
    }
}

fn info_reply(cache: &PagedCache, seq: u32) -> String {
    match cache.info(seq) {
        Some((tokens, pages)) => format!("ok tokens={} pages={} pinned=0", tokens, pages),
        None => "unknown_sequence".to_string(),
    }
}

fn stats_reply(cache: &PagedCache) -> String {
    let s = cache.stats();
    format!(
        "ok used={} free={} sequences={} tokens={}",
        s.used_pages, s.free_pages, s.sequences, s.tokens
    )
}

fn observe<'a>(
    cache: &PagedCache,
    what: &str,
    words: &mut impl Iterator<Item = &'a str>,
    out: &mut impl Write,
) -> Result<String, String> {
    match what {
        "stats" => return Ok(stats_reply(cache)),
        "ids" => return Ok(ok_list(&cache.sequence_ids())),
        "audit" => {
            for problem in cache.audit() {
                writeln!(out, "problem {}", problem).map_err(|e| e.to_string())?;
            }
            return Ok("ok".to_string());
        }
        _ => {}
    }
    let seq = seq_id(words.next())?;
    if cache.info(seq).is_none() {
        return Ok("unknown_sequence".to_string());
    }
    match what {
        "info" => Ok(info_reply(cache, seq)),
        "pages" => Ok(ok_list(cache.block_table(seq).unwrap_or(&[]))),
        "digest" => Ok(format!(
            "ok {:016x}",
            digest(&cache.gather(seq).unwrap_or_default())
        )),
        "words" => {
            let all = cache.gather(seq).unwrap_or_default();
            let first = number(words.next())?.min(all.len() as u64) as usize;
            let count = number(words.next())?.min(WORDS_PER_REQUEST_MAX) as usize;
            let end = (first + count).min(all.len());
            Ok(ok_list(&all[first..end]))
        }
        other => Err(format!("unknown observation '{}'", other)),
    }
}

fn main() {
    let evict_when_full = std::env::args().any(|arg| arg == "--evict-when-full");
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut input = BufReader::new(stdin.lock());
    let mut out = BufWriter::new(stdout.lock());
    let mut adapter = Adapter {
        cache: None,
        evict_when_full,
        tick: 0,
    };
    if writeln!(out, "{}", PROFILE)
        .and_then(|_| out.flush())
        .is_err()
    {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let request = line.trim_end_matches(|c: char| c == '\n' || c == '\r');
        let reply = match adapter.handle(request, &mut out) {
            Ok(reply) => reply,
            Err(message) => format!("error {}", message),
        };
        if writeln!(out, "{}", reply).is_err() {
            break;
        }
        // Flush before blocking on input, so a pipelining harness always gets its replies.
        if input.buffer().is_empty() && out.flush().is_err() {
            break;
        }
    }
    let _ = out.flush();
}
