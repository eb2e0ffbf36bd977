//! EC2's answers as a tree of elements (names without prefixes, text with entities decoded),
//! read with xmlparser.

/// An XML element: its name (without prefix), its text, its children in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child `name`, or "".
    pub(crate) fn text(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_owned())
            .unwrap_or_default()
    }

    /// The `item`s of the child list `set`.
    pub(crate) fn items<'a>(&'a self, set: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child(set)
            .into_iter()
            .flat_map(|s| s.children.iter().filter(|c| c.name == "item"))
    }
}

/// Parses a document into its root element.
pub(crate) fn parse(xml: &str) -> Result<Node, String> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    for token in Tokenizer::from(xml) {
        match token.map_err(|e| e.to_string())? {
            Token::ElementStart { local, .. } => stack.push(Node {
                name: local.as_str().to_owned(),
                ..Node::default()
            }),
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Close(..) | ElementEnd::Empty => {
                    let done = stack.pop().ok_or("an end tag with no start")?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => root = Some(done),
                    }
                }
            },
            Token::Text { text } => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&unescape(text.as_str()));
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(text.as_str());
                }
            }
            _ => {}
        }
    }
    root.ok_or_else(|| "no root element".to_owned())
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_become_trees_with_entities_decoded() {
        let n = parse(r#"<?xml version="1.0"?><R xmlns="x"><a>1 &amp; 2</a><set><item><b>x</b></item><item><b/></item></set></R>"#).unwrap();
        assert_eq!(n.name, "R");
        assert_eq!(n.text("a"), "1 & 2");
        assert_eq!(n.items("set").count(), 2);
        assert_eq!(n.items("set").next().unwrap().text("b"), "x");
    }
}
