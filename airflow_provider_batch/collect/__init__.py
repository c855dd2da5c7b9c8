"""The results task's steps, one module each, called in order by the results operator's
``execute``:

1. :mod:`.plan`: resolve the plan (manifest, run, vendor, prices, tables, one ledger handle) and
   open the task's one session (one vendor client, one work directory);
2. :mod:`.fetch`: retrieve and download each batch, opening its one-pass reconciliation;
3. :mod:`.load`: load the rows and spend in one transaction and record each batch's outcome (a
   resumed follow-up round re-enters here, :func:`.load.load_round`);
4. :mod:`.report`: the task's result and the table that ends its log;
5. :mod:`.follow_up`: create the next round of follow-up batches, or finish.

:mod:`.state` holds the typed state that travels between deferrals, :mod:`.files` the download
and stream primitives, :mod:`.spend` the spend rows of a submission's earlier batches and
:mod:`.outcomes` the ledger's monitoring record. Nothing here is an operator: these modules import
no operator, and the operator decides (deferral, the partial-failure policy).
"""
