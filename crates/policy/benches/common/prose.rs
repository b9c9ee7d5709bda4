//! The office prose the decision benchmark and the instruction count both judge, so that
//! their figures describe the same text.

/// Office prose with a few triggers in it, as requests carry.
pub const SENTENCES: &[&str] = &[
    "Please summarize the attached quarterly report for the leadership offsite next week.",
    "The migration plan covers the staging cluster first and production after the freeze.",
    "Can you explain how our tokenizer handles emoji and right-to-left scripts?",
    "We walked along the riverbank after the workshop and talked about the roadmap.",
    "Draft a short note for the team about the new expense tool, nothing urgent.",
    "The changelog lists forty fixes, most of them in the exchange rate service.",
    "Compare the two vendor proposals on price, support hours and data residency.",
    "Translate the onboarding checklist into French and keep the formatting intact.",
];

pub fn text_of(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 200);
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(SENTENCES[i % SENTENCES.len()]);
        text.push(' ');
        i += 1;
    }
    text.truncate(text.floor_char_boundary(bytes));
    text
}
