"""The Whisper-AuT training recipe: fine-tune Whisper end to end on a weighted mixture of
speech (transcripts) and sound and music (captions), then keep the encoder.

A clip moves forward through ``stream`` (WebDataset shards written by ``shards``, read as a
seeded per-reader mixture; ``corpora`` turns downloaded corpora into shards) or, for small
runs, ``datalist`` (JSONL rows of loose files, validated) with ``sampler`` (the domain mixture);
then ``collator`` (decoded waveforms, prompted targets, dropped samples; prompts and tokenizer
in ``tokenizer``), ``trainer`` (the recipe on ``Seq2SeqTrainer``, log-mel on the device;
recipes in ``config`` and ``recipes/``; resume points in ``resume``; counts in
``datareport``) and ``export`` (the encoder alone). ``mixture`` writes a small offline mixture.
"""
