"""Synthetic training questions for the plan classifier, made from templates (never from the test split).

Each kind gets templates written from the labelling rules in data/plans/README.md, filled with document
kinds, people, things and topics of many domains, with a share of lower-cased, unpunctuated and
typo'd variants, because users type that way. Fixed seed: the same set every run.
"""

from __future__ import annotations

import random

DOCS = ["article", "report", "paper", "contract", "lease", "manual", "email", "memo", "thread", "review",
        "policy", "study", "whitepaper", "minutes", "transcript", "PDF", "document", "file", "slides",
        "proposal", "invoice", "blog post", "press release", "handbook", "recipe", "brochure", "letter"]
PEOPLE = ["Yun Sun", "Dr. Patel", "the CEO", "Maria", "the landlord", "the author", "Tom", "the reviewer",
          "the minister", "Professor Lee", "the spokesperson", "Sarah", "the engineer", "our lawyer"]
THINGS = ["the new policy", "plan A", "the 2023 budget", "the old model", "version 2", "the bridge",
          "the ferry", "the basic tier", "the first proposal", "the pilot study", "the treaty", "option B",
          "the cloud setup", "the Q2 results", "the original design", "the warranty"]
TOPICS = ["the delay", "the price increase", "the outage", "the decision", "the layoffs", "the recall",
          "the merger", "the change of route", "the low turnout", "the drop in sales", "the leak", "the crash"]
ITEMS = ["people", "experts", "countries", "companies", "dates", "numbers", "figures", "names", "cities",
         "products", "risks", "deadlines", "clauses", "requirements", "symptoms", "steps", "tools",
         "organisations", "speakers", "amounts", "locations", "features", "recommendations", "authors"]
FACT_WH = ["When did", "Where did", "Who signed", "How many", "How much", "What is", "Who is", "Which",
           "What did", "Does", "Is", "Did", "How old is", "How long did", "What year", "Who said"]

TEMPLATES: dict[str, list[str]] = {
    "overview": [
        "Summarize the {doc}.", "Can you summarise this {doc}?", "Give me a summary of the {doc}.",
        "What is the {doc} about?", "What's this {doc} about?", "TL;DR of the {doc}?", "tldr",
        "Give me the gist.", "What are the main points of the {doc}?", "Key takeaways?",
        "Sum up the {doc} in {n} sentences.", "Give me {n} bullet points summarizing the {doc}.",
        "What does the {doc} say?", "Tell me about the {doc}.", "Briefly, what's in the {doc}?",
        "Explain the {doc} to me.", "What are the highlights of the {doc}?", "Overview please",
        "What's the big picture here?", "What is this about?", "Anything interesting in the {doc}?",
        "tell me something about these files", "What are the key findings of the {doc}?",
        "Could you give me a quick rundown of the {doc}?", "Recap the {doc} for me.",
        "What is the {doc} mainly saying?", "Describe the {doc} in a few lines.", "Summarize everything.",
        "What are the documents about?", "What do my files cover?", "Give me an executive summary.",
    ],
    "list": [
        "Which {items} are mentioned in the {doc}?", "List all the {items} in the {doc}.",
        "What {items} does the {doc} mention?", "Who is quoted in the {doc}?", "Name every {item} in the {doc}.",
        "Give me all the {items} from the {doc}.", "Enumerate the {items}.", "What are all the {items}?",
        "Which {items} appear in the {doc}?", "Who are the {items} quoted?", "Pull out every {item}.",
        "How did the different {items} react to {thing}?", "Which {items} does the {doc} list?",
        "Can you list the {items}?", "every {item} in the {doc} pls", "Who attended?",
        "Who took part in the meeting?", "What {items} are named?", "Show me each {item} the {doc} gives.",
        "Which {items} are involved?", "What are the {items} in the {doc}?",
    ],
    "comparison": [
        "Compare {thing} and {thing2}.", "{thing} vs {thing2}", "How does {thing} differ from {thing2}?",
        "What's the difference between {thing} and {thing2}?", "Is {thing} better than {thing2}?",
        "Which is cheaper, {thing} or {thing2}?", "Contrast {thing} with {thing2}.",
        "How do {thing} and {thing2} compare?", "What do {person} and {person2} disagree about?",
        "Compare what {person} and {person2} say.", "In what ways are {thing} and {thing2} similar?",
        "How is {thing} different from {thing2}?", "Which one is faster, {thing} or {thing2}?",
        "{thing} versus {thing2} - pros and cons?", "Does {person} agree with {person2}?",
        "How did {thing} change compared with {thing2}?", "Which should I choose, {thing} or {thing2}?",
    ],
    "explanation": [
        "Why did {topic} happen?", "What caused {topic}?", "Why was there {topic}?", "What are the reasons for {topic}?",
        "How does {thing} work?", "How do I set up {thing}?", "What led to {topic}?", "How come {topic}?",
        "Explain why {topic} happened.", "What's behind {topic}?", "Why does {person} think so?",
        "Why is {thing} important?", "For what reason did {person} leave?", "What explains {topic}?",
        "How did {topic} come about?", "Why would {person} say that?", "How do I reset {thing}?",
        "why {topic}", "What is the reasoning behind {thing}?", "How is {thing} made?",
    ],
    "library": [
        "Which documents do you have?", "What files are loaded?", "How many documents are there?",
        "What is the title of the {doc}?", "What's the headline of the {doc}?", "When was the {doc} added?",
        "How many pages does the {doc} have?", "How long is the {doc}?", "What format is the {doc}?",
        "Which documents are in the {coll} collection?", "List the titles of all documents.",
        "What can I ask you about?", "Is the {doc} in my library?", "What did I upload?",
        "Which files did I add this week?", "What's the file name of the {doc}?", "How big is the {doc}?",
        "Do you have any {doc}s?", "Show me my documents.", "What sources do you have access to?",
        "Which collections exist?", "When was the {doc} indexed?", "What documents can I search?",
    ],
    "fact": [
        "{wh} {thing} start?", "What did {person} say about {thing}?", "When was {thing} announced?",
        "Who is {person}?", "Tell me about {person}.", "How much does {thing} cost?",
        "Where is {thing} located?", "What is the deadline in the {doc}?", "How did {person} respond?",
        "How did {person} react to {thing}?", "Which country signed {thing}?", "Who wrote the {doc}?",
        "What year did {topic} happen?", "How many {items} were there?", "Does {thing} include support?",
        "What is the notice period?", "Who replied first?", "What does {person} ask me to send?",
        "How tall is {thing}?", "What is {person}'s role?", "Is {thing} still valid?",
        "What did the {doc} say about {topic}?", "Who is responsible for {thing}?",
    ],
}


def _typo(text: str, rng: random.Random) -> str:
    words = text.split()
    i = rng.randrange(len(words))
    w = words[i]
    if len(w) > 4:
        j = rng.randrange(1, len(w) - 2)
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    words[i] = w
    return " ".join(words)


def _fill(template: str, rng: random.Random) -> str:
    people = rng.sample(PEOPLE, 2)
    things = rng.sample(THINGS, 2)
    item = rng.choice(ITEMS)
    return template.format(doc=rng.choice(DOCS), person=people[0], person2=people[1], thing=things[0],
                           thing2=things[1], topic=rng.choice(TOPICS), items=item, item=item.rstrip("s"),
                           n=rng.choice(["two", "three", "five", "3"]), coll=rng.choice(["work", "default", "tax"]),
                           wh=rng.choice(FACT_WH))


def synthetic_questions(per_kind: int = 240, seed: int = 13) -> list[tuple[str, str]]:
    """(question, kind) pairs, per_kind of each kind, a third of them casual (lower case, no punctuation,
    sometimes a swapped letter)."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for kind, templates in TEMPLATES.items():
        for k in range(per_kind):
            q = _fill(templates[k % len(templates)], rng)
            if rng.random() < 0.33:
                q = q.lower().rstrip("?.")
                q = _typo(q, rng) if rng.random() < 0.5 else q
            out.append((q, kind))
    return out
