-- fmclust.plot — placeholder until the plotting module lands
return {}
