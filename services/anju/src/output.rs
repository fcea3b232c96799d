//! What the operator commands print: text for a terminal (the default) or one JSON document
//! for a script (`--output json`).

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

impl Output {
    /// Prints `json` as one document in JSON mode, or runs `text` otherwise.
    pub fn emit(self, json: impl FnOnce() -> serde_json::Value, text: impl FnOnce()) {
        match self {
            Output::Json => println!("{}", json()),
            Output::Text => text(),
        }
    }
}

/// Every item of a paged listing: `fetch(page_token)` returns a page and the next page's
/// token, empty after the last.
pub async fn all_pages<T, F, Fut>(mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<T>, String)>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = fetch(token).await?;
        items.extend(page);
        if next.is_empty() {
            return Ok(items);
        }
        token = next;
    }
}

#[cfg(test)]
mod tests {
    use super::all_pages;

    #[tokio::test]
    async fn every_page_is_read_until_the_token_runs_out() {
        let pages = [(vec![1, 2], "a"), (vec![3], "b"), (vec![4, 5], "")];
        let mut asked = Vec::new();
        let items = all_pages(|token| {
            asked.push(token.clone());
            let at = match token.as_str() {
                "" => 0,
                "a" => 1,
                _ => 2,
            };
            let (items, next) = pages[at].clone();
            async move { Ok((items, next.to_string())) }
        })
        .await
        .unwrap();
        assert_eq!(items, [1, 2, 3, 4, 5]);
        assert_eq!(asked, ["", "a", "b"]);
    }
}
