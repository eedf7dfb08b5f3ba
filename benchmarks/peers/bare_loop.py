"""The baseline arm: a bare ``openai.AsyncOpenAI`` loop, a semaphore of N.

No store, no cache, no retries beyond the client's own: the floor for any
harness that sends the same requests with the official client.

    python benchmarks/peers/bare_loop.py ITEMS.jsonl --base-url URL [--concurrency 8]

Prints one JSON object: {"correct": C, "total": T, "span": S}, with S the
seconds from the first request sent to the last response received;
``--outputs FILE`` also writes the response texts, one JSON string a line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def run(items: list[dict], args: argparse.Namespace) -> tuple[list[str], float]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=args.base_url, api_key="none")
    gate = asyncio.Semaphore(args.concurrency)
    extra = {} if args.seed is None else {"seed": args.seed}
    first: list[float] = []

    async def one(item: dict) -> str:
        async with gate:
            if not first:
                first.append(time.perf_counter())
            out = await client.chat.completions.create(
                model=args.model,
                messages=[{"role": "user", "content": item["input"]}],
                max_tokens=args.max_tokens,
                temperature=0.0,
                **extra,
            )
        return out.choices[0].message.content or ""

    texts = await asyncio.gather(*(one(item) for item in items))
    span = time.perf_counter() - first[0] if first else 0.0
    await client.close()
    return list(texts), span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="stub")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=None, help="send this seed with every request")
    parser.add_argument("--outputs", default=None, help="write the response texts here")
    args = parser.parse_args()
    with open(args.items, encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    texts, span = asyncio.run(run(items, args))
    if args.outputs:
        with open(args.outputs, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(text) + "\n" for text in texts)
    correct = sum(text.strip() == str(item.get("target")) for text, item in zip(texts, items))
    print(json.dumps({"correct": correct, "total": len(items), "span": span}))


if __name__ == "__main__":
    main()
