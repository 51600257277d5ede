"""Drive the reference guide's Python client against a federation, once.

reference_client.py next to this file is the code block "Complete
Production-Ready Client" of the guide (api-only-neuron-reference.md),
copied byte for byte; reference_client_test.go checks that it has not
drifted. This driver imports it and makes each of its calls once, as a
Python neuron would at boot:

    register()            POST /api/neuron/register
    send_heartbeat()      POST /api/neuron/status
    report_analytics(m)   POST /api/analytics/report
    get_config()          GET  /api/neuron/config

and prints what each returned as one JSON object on stdout. The client's
own logs go to stderr.

Usage: python3 drive_reference_client.py FEDERATION_URL NEURON_ID
Needs Debian's python3-aiohttp and python3-psutil.
"""

import asyncio
import json
import logging
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in testdata
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference_client import FederationClient, NeuronConfig  # noqa: E402

# The metrics the guide's own example reports.
METRICS = {
    "totalRequests": 100,
    "successfulRequests": 95,
    "failedRequests": 5,
    "averageResponseTime": 250,
}


async def drive(url: str, neuron_id: str) -> dict:
    config = NeuronConfig(
        neuron_id=neuron_id,
        name="Python Data Processor",
        type="python-data-processor",
        federation_url=url,
    )
    results = {}
    async with FederationClient(config) as client:
        results["register"] = await client.register()
        results["heartbeat"] = await client.send_heartbeat()
        results["analytics"] = await client.report_analytics(METRICS)
        results["config"] = await client.get_config()
    return results


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: drive_reference_client.py FEDERATION_URL NEURON_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format="%(levelname)s %(message)s")
    results = asyncio.run(drive(sys.argv[1], sys.argv[2]))
    json.dump(results, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
