"""TREC collections: SGML documents, topics and qrels.

Documents are ``<DOC> ... </DOC>`` blocks (``<DOC>`` and ``</DOC>`` on their
own lines) holding ``<DOCNO>id</DOCNO>``, one or more ``<TEXT>`` sections and
optionally a headline (``<HEADLINE>``, ``<TITLE>``, ``<HEAD>`` or ``<HL>``),
as on the TREC disks. Inner tags are dropped and entities unescaped. A block
without ``<TEXT>`` keeps its remaining body as text.

Topics are classic ``<top><num> Number: 301 <title> ... <desc> ...</top>``
blocks (tags not closed) or ``<topic number="1"><query>..</query>`` blocks;
the query text is the title (or the description, with ``topic_field``).
Qrels are ``qid iteration docid relevance`` lines. A file named ``qrels*`` or
``topics*`` is read as such even when its first lines do not look it, so a bad
line is refused with its number instead of the file being skipped. Any file
may be compressed (``.gz``, ``.bz2``, ``.xz``).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Iterator

from core.errors import InputError
from core.io.importers.compression import plain_name
from core.io.importers.options import ImportOptions
from core.io.importers.reading import (
    folder_files,
    iter_lines,
    looks_like_qrels,
    sniff_text,
    trec_qrels,
)
from core.io.importers.records import DocRecord, FileSpec, ImportPlan, QueryRecord

_DOC_START = re.compile(r"^\s*<DOC(\s[^>]*)?>\s*$", re.I)
_DOC_END = re.compile(r"</DOC>\s*$", re.I)
_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", re.I | re.S)
_TEXT = re.compile(r"<TEXT(?:\s[^>]*)?>(.*?)</TEXT>", re.I | re.S)
_TITLES = [re.compile(rf"<{t}(?:\s[^>]*)?>(.*?)</{t}>", re.I | re.S)
           for t in ("HEADLINE", "TITLE", "HEAD", "HL")]
_TAG = re.compile(r"<[^>]+>")

_TOP_START = re.compile(r"<top>|<topic[\s>]", re.I)
_TOP_END = re.compile(r"</top>|</topic>", re.I)
_NUM = re.compile(r"<num>\s*(?:Number\s*:)?\s*([^<\s]+)", re.I)
_NUM_ATTR = re.compile(r"<topic[^>]*\bnumber\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_TITLE = re.compile(r"<title>\s*(?:Topic\s*:)?(.*?)(?=<|\Z)", re.I | re.S)
_DESC = re.compile(r"<desc>\s*(?:Description\s*:)?(.*?)(?=<|\Z)", re.I | re.S)
_XML_QUERY = re.compile(r"<query>(.*?)</query>", re.I | re.S)
_XML_DESC = re.compile(r"<(?:question|description)>(.*?)</(?:question|description)>", re.I | re.S)


def clean(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def _parse_doc(spec: FileSpec, body: str, start: int) -> DocRecord:
    m = _DOCNO.search(body)
    if not m or not m.group(1).strip():
        raise InputError(spec.path, "<DOC> without a <DOCNO>", start)
    doc_id = clean(m.group(1))
    texts = _TEXT.findall(body)
    if texts:
        text = clean(" ".join(texts))
    else:
        text = clean(_DOCNO.sub(" ", body))
    title = ""
    for pattern in _TITLES:
        t = pattern.search(body)
        if t:
            title = clean(t.group(1))
            break
    return DocRecord(start, doc_id, title, text)


def trec_documents(spec: FileSpec) -> Iterator[DocRecord]:
    block: list[str] | None = None
    start = 0
    for number, line in iter_lines(spec):
        if block is None:
            if _DOC_START.match(line):
                block, start = [], number
            elif line.strip():
                raise InputError(spec.path, "text outside <DOC> ... </DOC>", number)
            continue
        end = _DOC_END.search(line)
        if end:
            block.append(line[: end.start()])
            yield _parse_doc(spec, "\n".join(block), start)
            block = None
            continue
        if _DOC_START.match(line):
            raise InputError(spec.path, f"<DOC> inside the <DOC> opened on line {start} (missing </DOC>)",
                             number)
        block.append(line)
    if block is not None:
        raise InputError(spec.path, "unterminated <DOC> (no </DOC> before the end of the file)", start)


def trec_topics(options: ImportOptions):
    def parse(spec: FileSpec, body: str, start: int) -> QueryRecord:
        m = _NUM.search(body) or _NUM_ATTR.search(body)
        if not m:
            raise InputError(spec.path, "topic without a <num> (or number=...)", start)
        topic_id = m.group(1).strip()
        title_m = _TITLE.search(body) or _XML_QUERY.search(body)
        desc_m = _DESC.search(body) or _XML_DESC.search(body)
        title = clean(title_m.group(1)) if title_m else ""
        desc = clean(desc_m.group(1)) if desc_m else ""
        if options.topic_field == "title":
            text = title or desc
        elif options.topic_field == "description":
            text = desc or title
        else:
            text = " ".join(t for t in (title, desc) if t)
        if not text:
            raise InputError(spec.path, f"topic {topic_id!r} has no title or description", start)
        return QueryRecord(start, topic_id, text)

    def read(spec: FileSpec) -> Iterator[QueryRecord]:
        block: list[str] | None = None
        start = 0
        for number, line in iter_lines(spec):
            if block is None:
                m = _TOP_START.search(line)
                if not m:
                    continue
                block, start = [], number
                line = line[m.start():]
            end = _TOP_END.search(line)
            if end:
                block.append(line[: end.start()])
                yield parse(spec, "\n".join(block), start)
                block = None
                continue
            block.append(line)
        if block is not None:
            raise InputError(spec.path, "unterminated topic (no </top> before the end of the file)", start)
    return read


def sniff_role(path: Path) -> str | None:
    head = sniff_text(path)
    if re.search(r"^\s*<DOC(\s[^>]*)?>\s*$", head, re.I | re.M):
        return "documents"
    if _TOP_START.search(head):
        return "queries"
    if looks_like_qrels(path):
        return "qrels"
    return None


def _walk(source: Path) -> list[Path]:
    out = []
    for root, dirs, _ in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(folder_files(Path(root)))
    return out


def role_by_name(path: Path) -> str | None:
    """``qrels*`` files are qrels and ``topics*`` files topics, whatever their first lines say."""
    name = plain_name(path).lower()
    if "qrels" in name:
        return "qrels"
    if name.startswith("topics"):
        return "queries"
    return None


def plan(source: Path, options: ImportOptions) -> ImportPlan:
    files: list[FileSpec] = []
    ignored: list[Path] = []
    topics = trec_topics(options)
    readers = {"documents": trec_documents, "queries": topics, "qrels": trec_qrels}
    paths = _walk(source) if source.is_dir() else [source]
    for path in paths:
        role = options.kind if not source.is_dir() and options.kind else (
            sniff_role(path) or role_by_name(path)
            or ("qrels" if looks_like_qrels(path, share=0.5) else None))
        if role is None:
            ignored.append(path)
            continue
        files.append(FileSpec(role, path, readers[role],
                              split=options.split if role == "qrels" else None))
    files += [FileSpec("queries", p, topics) for p in options.queries]
    files += [FileSpec("qrels", p, trec_qrels, split=options.split) for p in options.qrels]
    return ImportPlan("trec", source, files, ignored)
