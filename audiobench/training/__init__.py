"""The Whisper-AuT training recipe: fine-tune Whisper end to end on a weighted mixture of
speech (transcripts) and sound and music (captions), then keep the encoder.

A clip moves forward through ``manifest`` (rows, validation, decoding) or ``shards``
(WebDataset tars with an offset index), ``sampler`` (the domain mixture), ``collator``
(log-mel, prompted targets; prompts and tokenizer in ``tokenizer``), ``trainer`` (the recipe on
``Seq2SeqTrainer``; recipes in ``config`` and ``recipes/``) and ``export`` (the encoder alone).
``synth`` writes a small offline mixture; ``flops`` counts model FLOPs for MFU.
"""
