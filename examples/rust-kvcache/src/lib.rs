//! A small paged KV cache: a pool of `max_pages` pages of `page_size` token slots, block tables
//! per sequence, token data stored in the pages. With `evict_when_full` it carries the original
//! bug: when the pool is full it silently evicts the least recently used sequence (sometimes the
//! caller itself) instead of failing with `CapacityExceeded`.

use std::collections::BTreeMap;

/// Pool size and data-plane shape (kvtrace config keys; eviction is always `none`).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub page_size: u32,
    pub max_pages: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub layers: u32,
}

impl Config {
    /// 32-bit words per token: K and V, every layer, every head.
    pub fn words_per_token(&self) -> usize {
        (self.kv_heads as usize) * (self.head_dim as usize) * (self.layers as usize) * 2
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    CapacityExceeded,
    UnknownSequence,
    InvalidArgument,
}

pub const APPEND_TOKEN_COUNT_MAX: u32 = 1_048_576;

#[derive(Default)]
struct Sequence {
    pages: Vec<u32>,
    tokens: u64,
    last_use: u64,
}

pub struct Stats {
    pub used_pages: u64,
    pub free_pages: u64,
    pub sequences: u64,
    pub tokens: u64,
}

pub struct PagedCache {
    config: Config,
    free: Vec<u32>,
    data: Vec<u32>,
    sequences: BTreeMap<u32, Sequence>,
    evict_when_full: bool,
}

/// The value of one written token (docs/backend-protocol.md section 4).
pub fn token_value(tick: u64, entry: u32, offset: u32) -> u64 {
    (tick << 29) | ((entry as u64) << 21) | offset as u64
}

/// Word `index` of the K (kv=0) or V (kv=1) vector of `layer` for a token value.
pub fn token_word(value: u64, layer: u32, kv: u32, index: u32) -> u32 {
    let mut x = value
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((layer as u64) << 40)
        .wrapping_add(index as u64);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    ((x as u32) & 0x7FFF_FFFF) | (kv << 31)
}

impl PagedCache {
    pub fn new(config: Config, evict_when_full: bool) -> PagedCache {
        let slots = config.max_pages as usize * config.page_size as usize;
        PagedCache {
            config,
            free: (0..config.max_pages).rev().collect(),
            data: vec![0; slots * config.words_per_token()],
            sequences: BTreeMap::new(),
            evict_when_full,
        }
    }

    /// Pages `seq` needs to hold `extra` more tokens (reserved pages are used first).
    fn pages_needed(&self, seq: u32, extra: u64) -> u64 {
        let (tokens, pages) = match self.sequences.get(&seq) {
            Some(s) => (s.tokens, s.pages.len() as u64),
            None => (0, 0),
        };
        let page_size = self.config.page_size as u64;
        ((tokens + extra + page_size - 1) / page_size).saturating_sub(pages)
    }

    /// The bug: evicts least recently used sequences until `need` pages are free. Returns false
    /// when nothing is left to evict. The caller is not protected.
    fn evict_until_free(&mut self, need: u64) -> bool {
        while (self.free.len() as u64) < need {
            let victim = self
                .sequences
                .iter()
                .min_by_key(|(id, s)| (s.last_use, **id))
                .map(|(id, _)| *id);
            match victim {
                Some(id) => self.remove(id),
                None => return false,
            }
        }
        true
    }

    fn make_room(&mut self, seq: u32, extra: u64, fixed: u64) -> Result<(), Error> {
        let need = self.pages_needed(seq, extra) + fixed;
        if need <= self.free.len() as u64 {
            return Ok(());
        }
        if !self.evict_when_full || !self.evict_until_free(need) {
            return Err(Error::CapacityExceeded);
        }
        // If the caller itself was evicted it is now a new, empty sequence: check again.
        let need = self.pages_needed(seq, extra) + fixed;
        if self.evict_until_free(need) {
            Ok(())
        } else {
            Err(Error::CapacityExceeded)
        }
    }

    fn remove(&mut self, seq: u32) {
        if let Some(removed) = self.sequences.remove(&seq) {
            self.free.extend(removed.pages.iter().rev());
        }
    }

    /// Reserves one new page at the end of `seq`'s block table, creating `seq` if needed.
    pub fn alloc(&mut self, seq: u32, tick: u64) -> Result<(), Error> {
        self.make_room(seq, 0, 1)?;
        let page = self.free.pop().expect("room was made");
        let entry = self.sequences.entry(seq).or_default();
        entry.pages.push(page);
        entry.last_use = tick;
        Ok(())
    }

    /// Appends `count` tokens to `seq` (creating it), writing their K/V words into the pages.
    pub fn append(&mut self, seq: u32, count: u32, tick: u64, entry: u32) -> Result<(), Error> {
        if count == 0 || count > APPEND_TOKEN_COUNT_MAX {
            return Err(Error::InvalidArgument);
        }
        self.make_room(seq, count as u64, 0)?;
        let need = self.pages_needed(seq, count as u64);
        let mut new_pages = Vec::new();
        for _ in 0..need {
            new_pages.push(self.free.pop().expect("room was made"));
        }
        let sequence = self.sequences.entry(seq).or_default();
        sequence.pages.extend(new_pages);
        sequence.last_use = tick;
        let first = sequence.tokens;
        sequence.tokens += count as u64;
        let pages = sequence.pages.clone();
        for offset in 0..count {
            self.write_token(
                &pages,
                first + offset as u64,
                token_value(tick, entry, offset),
            );
        }
        Ok(())
    }

    fn slot_start(&self, pages: &[u32], token: u64) -> usize {
        let page_size = self.config.page_size as u64;
        let page = pages[(token / page_size) as usize] as usize;
        let slot = page * page_size as usize + (token % page_size) as usize;
        slot * self.config.words_per_token()
    }

    fn write_token(&mut self, pages: &[u32], token: u64, value: u64) {
        let start = self.slot_start(pages, token);
        let c = self.config;
        let mut pos = start;
        for layer in 0..c.layers {
            for kv in 0..2 {
                for index in 0..c.kv_heads * c.head_dim {
                    self.data[pos] = token_word(value, layer, kv, index);
                    pos += 1;
                }
            }
        }
    }

    pub fn free(&mut self, seq: u32) -> Result<(), Error> {
        if !self.sequences.contains_key(&seq) {
            return Err(Error::UnknownSequence);
        }
        self.remove(seq);
        Ok(())
    }

    /// Gathers `seq`'s token words (and counts as a use of it).
    pub fn read(&mut self, seq: u32, tick: u64) -> Result<Vec<u32>, Error> {
        let words = self.gather(seq).ok_or(Error::UnknownSequence)?;
        if let Some(s) = self.sequences.get_mut(&seq) {
            s.last_use = tick;
        }
        Ok(words)
    }

    /// `seq`'s words in token order, without counting as a use.
    pub fn gather(&self, seq: u32) -> Option<Vec<u32>> {
        let s = self.sequences.get(&seq)?;
        let per_token = self.config.words_per_token();
        let mut words = Vec::with_capacity(s.tokens as usize * per_token);
        for token in 0..s.tokens {
            let start = self.slot_start(&s.pages, token);
            words.extend_from_slice(&self.data[start..start + per_token]);
        }
        Some(words)
    }

    /// (tokens, pages) of `seq`.
    pub fn info(&self, seq: u32) -> Option<(u64, u64)> {
        self.sequences
            .get(&seq)
            .map(|s| (s.tokens, s.pages.len() as u64))
    }

    pub fn stats(&self) -> Stats {
        let free_pages = self.free.len() as u64;
        Stats {
            used_pages: self.config.max_pages as u64 - free_pages,
            free_pages,
            sequences: self.sequences.len() as u64,
            tokens: self.sequences.values().map(|s| s.tokens).sum(),
        }
    }

    pub fn sequence_ids(&self) -> Vec<u32> {
        self.sequences.keys().copied().collect()
    }

    pub fn block_table(&self, seq: u32) -> Option<&[u32]> {
        self.sequences.get(&seq).map(|s| s.pages.as_slice())
    }

    /// Every page is either free or in exactly one block table; tables hold their tokens.
    pub fn audit(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut owners = vec![0u32; self.config.max_pages as usize];
        for page in &self.free {
            owners[*page as usize] += 1;
        }
        for (id, s) in &self.sequences {
            let page_size = self.config.page_size as u64;
            if (s.pages.len() as u64) * page_size < s.tokens {
                problems.push(format!(
                    "sequence {} holds {} tokens in {} pages",
                    id,
                    s.tokens,
                    s.pages.len()
                ));
            }
            for page in &s.pages {
                owners[*page as usize] += 1;
            }
        }
        for (page, count) in owners.iter().enumerate() {
            if *count != 1 {
                problems.push(format!(
                    "page {} is free or referenced {} times, expected once",
                    page, count
                ));
            }
        }
        problems
    }
}
