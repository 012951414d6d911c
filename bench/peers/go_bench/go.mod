module gevbench

go 1.19
