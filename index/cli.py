"""`python -m index`: build, add, list, remove and verify the index. Errors are translated here, once."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from core.errors import RagError
from core.progress import terminal_progress

if TYPE_CHECKING:  # the command line stays cheap: the pipeline is imported inside main()
    from core.settings import Settings
    from index.pipeline import Indexer


def _parser() -> argparse.ArgumentParser:
    # the common options work before or after the command (SUPPRESS keeps a later default from
    # overwriting an earlier value)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="state directory (default: RAG_DATA_DIR or ./.rag-data)")
    common.add_argument("--chroma-url", default=argparse.SUPPRESS,
                        help="use a Chroma server, e.g. http://127.0.0.1:8000 (default: embedded)")
    common.add_argument("--config", default=argparse.SUPPRESS, help="optional TOML settings file")
    common.add_argument("--collection", default=argparse.SUPPRESS,
                        help="document collection: add/build write into it, list shows it, remove looks in it "
                             "(default: RAG_COLLECTION or 'default'; list: all)")
    p = argparse.ArgumentParser(prog="python -m index", description="Manage the document index.", parents=[common])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", parents=[common], help="index the given paths, or the bundled documents when none are given")
    b.add_argument("paths", nargs="*")
    b.add_argument("--rebuild", action="store_true", help="delete the existing index first")
    b.add_argument("--if-missing", action="store_true", help="do nothing when an index already exists")
    a = sub.add_parser("add", parents=[common], help="add or update files or folders")
    a.add_argument("paths", nargs="+")
    sub.add_parser("list", parents=[common], help="documents (and their collection), chunk counts and the model "
                                                  "that built the index")
    r = sub.add_parser("remove", parents=[common], help="remove a document by id (see `list`; with --collection, "
                                                        "its id inside that collection)")
    r.add_argument("doc_id")
    sub.add_parser("verify", parents=[common], help="check that Chroma, BM25 and the manifest agree")
    e = sub.add_parser("export-onnx", parents=[common], help="export the embedding model to ONNX (fp32 and int8) now")
    e.add_argument("--force", action="store_true", help="export again even when a verified graph is cached")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for opt in ("data_dir", "chroma_url", "config", "collection"):
        setattr(args, opt, getattr(args, opt, None))
    from core.settings import load_settings
    from index.pipeline import Indexer

    try:
        settings = load_settings({"data_dir": args.data_dir, "chroma_url": args.chroma_url,
                                  "collections": args.collection}, config_file=args.config)
        if args.cmd == "export-onnx":
            from index.embedding_onnx import export_onnx_command

            return export_onnx_command(settings, force=args.force)
        indexer = Indexer.from_settings(settings)
        command = {"build": _build, "add": _build, "list": _list, "remove": _remove, "verify": _verify}[args.cmd]
        return command(args, indexer, settings)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace, indexer: Indexer, settings: Settings) -> int:
    if args.cmd == "build" and args.if_missing and indexer.store.exists():
        print(f"index exists in {indexer.store.shared.where} ({len(indexer.documents())} documents)")
        update, close = terminal_progress()
        try:
            filled = indexer.fill_sentence_vectors(update)
        finally:
            close()
        if filled:
            print(f"stored the sentence vectors of its {filled} chunks (an index from before they were kept)")
        return 0
    if args.cmd == "build" and not args.paths and args.collection not in (None, "default"):
        print(f"error: the bundled documents always go into 'default', not {args.collection!r}: give the PATHS "
              "to index into that collection", file=sys.stderr)
        return 2
    if args.cmd == "build" and args.rebuild:
        indexer.store.destroy()
    update, close = terminal_progress()
    try:
        if args.cmd == "build" and not args.paths:
            report = indexer.build_bundled(update)  # bundled documents always go into "default"
        else:
            report = indexer.add(args.paths, update, collection=settings.collections)
    finally:
        close()
    for e in report.errors:
        print(f"error: {e}", file=sys.stderr)
    print(report.summary())
    return 1 if report.errors and not (report.added or report.replaced or report.skipped) else 0


def _list(args: argparse.Namespace, indexer: Indexer, settings: Settings) -> int:
    if not indexer.store.exists():
        print(f"no index in {indexer.store.shared.where}: build it with `python -m index build`")
        return 0
    indexer.open()  # migrates an index from before collections, or says how to rebuild it
    docs = indexer.documents()
    if args.collection:
        from index.pipeline import one_collection

        wanted = one_collection(args.collection)
        docs = [d for d in docs if d.collection == wanted]
        if not docs:
            print(f"collection {wanted!r} holds no documents; collections: {', '.join(indexer.collections())}")
            return 0
    cfg = indexer.store.manifest.config
    print(f"model: {cfg.get('embed_model')} (dim {cfg.get('dimension')}), embedder: "
          f"{cfg.get('embed_variant', 'torch')}, chunker: {cfg.get('chunker')}")
    for d in docs:
        print(f"{d.doc_id}\t{d.collection}\t{d.n_chunks} chunks\t{d.title}")
    return 0


def _remove(args: argparse.Namespace, indexer: Indexer, settings: Settings) -> int:
    from index.pipeline import doc_id_in, one_collection

    doc_id = doc_id_in(one_collection(args.collection), args.doc_id) if args.collection else args.doc_id
    if args.collection and doc_id != args.doc_id and doc_id not in {d.doc_id for d in indexer.documents()}:
        doc_id = args.doc_id  # a full id ("NAME/file.txt") given with its --collection NAME
    try:
        indexer.remove(doc_id)
    except KeyError:
        print(f"error: no document {doc_id!r}; see `python -m index list`", file=sys.stderr)
        return 2
    print(f"removed {doc_id}")
    return 0


def _verify(args: argparse.Namespace, indexer: Indexer, settings: Settings) -> int:
    if not indexer.store.exists():
        print(f"error: no index in {indexer.store.shared.where}: build it with `python -m index build`",
              file=sys.stderr)
        return 2
    problems = indexer.verify()
    for pr in problems:
        print(f"problem: {pr}")
    print("index OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0
