"""Study workflows declared over the core: the scale-guided NEE study and the forest GPP study.

As xclim's indicators declare computations its indices carry out, each study declares its
protocol (config, data steps, models, scores, saved result) over the core's functions: the
site-cube chain (:mod:`fluxgrid.prep.pipeline`), training (:mod:`fluxgrid.training`), runs
(:mod:`fluxgrid.runs`), scores (:mod:`fluxgrid.evaluate`) and explanations
(:mod:`fluxgrid.explain`).

``guided``
    seasonal and interannual models on SSA components vs end-to-end models
    (:func:`fluxgrid.studies.guided.run_guided`);
``gpp``
    RNN vs GRU vs LSTM on daily GPP at forest towers
    (:func:`fluxgrid.studies.gpp.run_gpp_study`);
``common``
    what both share: IGBP groups, config files, per-group results, run directories.
"""
