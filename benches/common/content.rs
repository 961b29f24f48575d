//! Report content that looks like a flood of real complaints: nine reports in ten carry an
//! output nobody reported before (each opens an incident, the expensive path), one in ten
//! repeats one of a few widely seen answers (it joins that answer's incident).
//!
//! Outputs are made of sentences of JADE-DB's violating answers (real Chinese model output,
//! ../shared/data/jade-db), seven to a report, chosen by the report's number: as long as the
//! real answers (about 270 characters) and distinct. Prompts are JADE-DB's and Flames'
//! questions. Without ../shared/data the text is generated.
//!
//! Every piece is urlencoded once; a body is a concatenation, so making one costs the load
//! generator a copy, not an encoding of 2 KB of Chinese.

use std::path::Path;

/// One in `REPEAT_EVERY` reports repeats a popular answer.
pub const REPEAT_EVERY: usize = 10;
/// How many answers the repeats share.
pub const POPULAR: usize = 65;
const SENTENCES_PER_OUTPUT: usize = 7;

pub struct Content {
    /// Urlencoded sentences.
    sentences: Vec<String>,
    /// Urlencoded whole answers the repeats use.
    popular: Vec<String>,
    /// Urlencoded prompts.
    prompts: Vec<String>,
    pub source: String,
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// splitmix64: the k-th pick of report i, the same in every run.
fn pick(i: usize, k: usize, n: usize) -> usize {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((k as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % n as u64) as usize
}

impl Content {
    pub fn load() -> Content {
        let dir = super::data_dir();
        let read = |f: &str, key: &str| -> Vec<String> {
            std::fs::read_to_string(dir.join(f))
                .map(|t| {
                    t.lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .filter_map(|v| v.get(key).and_then(|x| x.as_str()).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let answers: Vec<String> = read("jade-db/jade_alignment_zh.jsonl", "违规回答")
            .into_iter()
            .map(|a| a.chars().take(2000).collect())
            .collect();
        let prompts = [
            read("jade-db/jade_alignment_zh.jsonl", "问题"),
            read("flames/Flames_1k_Chinese.jsonl", "prompt"),
        ]
        .concat();
        let (answers, prompts, source) = if answers.is_empty() || prompts.is_empty() {
            let words = [
                "模型", "生成", "虚假", "信息", "隐私", "泄露", "歧视", "内容", "首都", "答案",
            ];
            let make = |n: usize, len: usize| -> Vec<String> {
                (0..n)
                    .map(|i| {
                        let mut s: String =
                            (0..len).map(|k| words[pick(i, k, words.len())]).collect();
                        s.push('。');
                        s
                    })
                    .collect()
            };
            (make(650, 60), make(1650, 12), "generated text".to_owned())
        } else {
            let source = format!(
                "{} JADE-DB answers and {} JADE-DB/Flames prompts from {}",
                answers.len(),
                prompts.len(),
                dir.display()
            );
            (answers, prompts, source)
        };
        let mut sentences: Vec<String> = answers
            .iter()
            .flat_map(|a| {
                a.split_inclusive(['。', '！', '？', '\n'])
                    .map(str::trim)
                    .filter(|s| s.chars().count() >= 4)
                    .map(enc)
                    .collect::<Vec<_>>()
            })
            .collect();
        sentences.sort();
        sentences.dedup();
        Content {
            popular: answers.iter().take(POPULAR).map(|a| enc(a)).collect(),
            prompts: prompts.iter().map(|p| enc(p)).collect(),
            sentences,
            source,
        }
    }

    /// Whether the i-th report repeats a popular answer.
    pub fn repeats(i: usize) -> bool {
        i % REPEAT_EVERY == REPEAT_EVERY - 1
    }

    /// The urlencoded output of the i-th report.
    pub fn output(&self, i: usize) -> String {
        if Self::repeats(i) {
            return self.popular[pick(i, 99, self.popular.len())].clone();
        }
        let mut out = String::with_capacity(3000);
        for k in 0..SENTENCES_PER_OUTPUT {
            out.push_str(&self.sentences[pick(i, k, self.sentences.len())]);
        }
        out
    }

    /// The i-th report's form body (with `email` when asked), as the public form sends it.
    pub fn body(&self, i: usize, email: bool) -> String {
        let mut b = String::with_capacity(4000);
        b.push_str("model=demo-chat&category=core_values&good_faith=on&prompt=");
        b.push_str(&self.prompts[pick(i, 50, self.prompts.len())]);
        b.push_str("&description=%E8%BF%9D%E8%A7%84%E5%86%85%E5%AE%B9+%23");
        b.push_str(&i.to_string());
        if email {
            b.push_str(&format!("&email=r{i}%40example.com"));
        }
        b.push_str("&output=");
        b.push_str(&self.output(i));
        b
    }

    /// The pieces for benches/wrk/intake.lua: sections of urlencoded lines.
    pub fn write_for_wrk(&self, path: &Path) -> std::io::Result<()> {
        let mut s = String::new();
        for (name, lines) in [
            ("#sentences", &self.sentences),
            ("#popular", &self.popular),
            ("#prompts", &self.prompts),
        ] {
            s.push_str(name);
            s.push('\n');
            for l in lines {
                s.push_str(l);
                s.push('\n');
            }
        }
        std::fs::write(path, s)
    }
}
